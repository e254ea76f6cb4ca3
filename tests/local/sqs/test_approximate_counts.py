"""saga_local.sqs.approximate_counts: the same counts as moto's own, from one clock reading."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from saga_local.sqs.approximate_counts import APPROXIMATE_COUNTS_ONE_CLOCK

COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")


@pytest.fixture
def queue() -> Iterator[tuple[Any, str]]:
    """A queue holding visible, in-flight and delayed messages."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="counts")["QueueUrl"]
        for index in range(5):
            sqs.send_message(QueueUrl=url, MessageBody=f"visible {index}")
        sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=600)
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=600)
        yield sqs, url


def _counts(sqs: Any, url: str) -> dict[str, str]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return {name: attributes[name] for name in COUNTS}


def test_counts_are_moto_s_own(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    unpatched = _counts(sqs, url)
    APPROXIMATE_COUNTS_ONE_CLOCK.apply()
    try:
        assert _counts(sqs, url) == unpatched == {COUNTS[0]: "3", COUNTS[1]: "2", COUNTS[2]: "1"}
    finally:
        APPROXIMATE_COUNTS_ONE_CLOCK.undo()
    assert _counts(sqs, url) == unpatched
