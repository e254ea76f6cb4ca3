"""Where order events go, and where records that can never make one go: ports, and their SNS FIFO and
SQS adapters.

The relay depends on the `EventPublisher` and `DeadLetters` protocols only, so tests (or another broker)
can stand in for SNS and SQS without patching boto3.
"""

import json
from typing import Any, Protocol

from outbox_relay.events import OrderEvent


class EventPublisher(Protocol):
    def publish(self, event: OrderEvent) -> None:
        """Publish the event or raise; a raise leaves its stream record to be redelivered."""
        ...


class SnsPublisher:
    """Publishes to an SNS FIFO topic: ordered per order, deduplicated per state change."""

    def __init__(self, topic_arn: str, sns_client: Any) -> None:
        self._topic_arn = topic_arn
        self._sns = sns_client

    def publish(self, event: OrderEvent) -> None:
        self._sns.publish(
            TopicArn=self._topic_arn,
            Message=event.to_json(),
            MessageGroupId=event.order_id,  # FIFO per order: its events arrive in the order they happened
            MessageDeduplicationId=event.deduplication_id,
            # Lets subscribers filter by type without parsing the body.
            MessageAttributes={"type": {"DataType": "String", "StringValue": event.type}},
        )


class DeadLetters(Protocol):
    def send(self, record: dict[str, Any], reason: str) -> None:
        """Keep the stream record for an operator, or raise; a raise leaves it to be redelivered."""
        ...


class SqsDeadLetters:
    """The relay's dead-letter queue (the one its stream mapping sends failed batches to), holding the whole
    record: the mapping's own message only points at sequence numbers, gone from the stream after 24 hours."""

    def __init__(self, queue_url: str, sqs_client: Any) -> None:
        self._queue_url = queue_url
        self._sqs = sqs_client

    def send(self, record: dict[str, Any], reason: str) -> None:
        if not self._queue_url:
            raise RuntimeError("POISON_RECORDS_QUEUE_URL is not set: the poison record is redelivered instead")
        self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps({"reason": reason, "record": record}))
