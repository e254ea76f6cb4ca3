"""Where order events go: a port, and its SNS FIFO adapter.

The relay depends on the `EventPublisher` protocol only, so tests (or another broker) can stand in
for SNS without patching boto3.
"""

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
