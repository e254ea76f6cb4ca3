"""saga_local.stepfunctions.clients: the interpreter's calls served by moto in this process, each exactly once."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.models import botocore_stubber

from saga_local.core import aws_calls
from saga_local.stepfunctions.clients import in_process_client_for

TABLE: dict[str, Any] = {
    "TableName": "t",
    "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


@pytest.fixture
def put_items() -> Iterator[list[str]]:
    """moto with a table; the PutItem calls moto dispatches, as they happen."""
    seen: list[str] = []
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(**TABLE)
        remove = aws_calls.add_listener(
            lambda call, *_: seen.append(call.operation) if call.operation == "PutItem" else None
        )
        try:
            yield seen
        finally:
            remove()


def test_served_in_process_as_in_the_server_without_http(put_items: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """In the stack's server no mock is on, and AWS_ENDPOINT_URL points at the server itself: neither is used."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(botocore_stubber, "enabled", False)
    client: Any = in_process_client_for()("us-east-1", "dynamodb")
    client.put_item(TableName="t", Item={"k": {"S": "a"}})
    monkeypatch.setattr(botocore_stubber, "enabled", True)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert boto3.client("dynamodb", region_name="us-east-1").get_item(TableName="t", Key={"k": {"S": "a"}})["Item"]
    assert put_items == ["PutItem"]


def test_under_a_mock_each_call_runs_once(put_items: list[str]) -> None:
    """botocore runs every before-send handler: moto's own serves the call, this one steps aside."""
    in_process_client_for()("us-east-1", "dynamodb").put_item(TableName="t", Item={"k": {"S": "b"}})
    assert put_items == ["PutItem"]


def test_one_client_per_region_and_service() -> None:
    client_for = in_process_client_for()
    assert client_for("us-east-1", "lambda") is client_for("us-east-1", "lambda")
    assert client_for("us-east-1", "lambda") is not client_for("eu-west-1", "lambda")
