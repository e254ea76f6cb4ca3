"""Where the relay writes: order events to the SNS FIFO topic of ORDER_EVENTS_TOPIC_ARN, and stream records
that can never make one to the queue of POISON_RECORDS_QUEUE_URL.

The service depends on the `EventPublisher` and `DeadLetters` ports (service.py), which this module
implements; tests (or another broker) stand in for SNS and SQS without patching boto3.
"""

import json
from typing import Any

from saga_common import aws

from outbox_relay.model import OrderEvent
from outbox_relay.settings import settings


def publish(event: OrderEvent) -> None:
    """Publish to the SNS FIFO topic: ordered per order, deduplicated per state change. A raise leaves the
    event's stream record to be redelivered."""
    aws.sns().publish(
        TopicArn=settings().order_events_topic_arn,
        Message=event.to_json(),
        MessageGroupId=event.order_id,  # FIFO per order: its events arrive in the order they happened
        MessageDeduplicationId=event.deduplication_id,
        # Lets subscribers filter by type without parsing the body.
        MessageAttributes={"type": {"DataType": "String", "StringValue": event.type}},
    )


def dead_letter(record: dict[str, Any], reason: str) -> None:
    """Keep the whole stream record in the relay's dead-letter queue (the one its stream mapping sends
    failed batches to): the mapping's own message only points at sequence numbers, gone from the stream
    after 24 hours. A raise leaves the record to be redelivered."""
    aws.sqs().send_message(
        QueueUrl=settings().poison_records_queue_url, MessageBody=json.dumps({"reason": reason, "record": record})
    )
