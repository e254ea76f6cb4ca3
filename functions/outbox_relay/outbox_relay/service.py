"""The relay's logic: which stream records are order events, and relaying each to its topic.

Delivery is at least once: a record whose publish failed is raised for the handler to report in
`batchItemFailures`; SNS FIFO deduplication (`<orderId>:<status>`) drops the copy a retry may publish.
A record that can never make an event (poison) goes to the dead-letter queue whole, and the batch goes on.
"""

import json
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from saga_common.observability import logger, metrics

from outbox_relay.errors import PoisonRecordError
from outbox_relay.model import PLACED, RESOLVED, TYPE_BY_STATUS, OrderEvent


class EventPublisher(Protocol):
    def publish(self, event: OrderEvent) -> None:
        """Publish the event or raise; a raise leaves its stream record to be redelivered."""
        ...


class DeadLetters(Protocol):
    def dead_letter(self, record: dict[str, Any], reason: str) -> None:
        """Keep the stream record for an operator, or raise; a raise leaves it to be redelivered."""
        ...


def relay_record(
    record: DynamoDBRecord, *, publisher: EventPublisher, dead_letters: DeadLetters, source: str
) -> str | None:
    """Publish the event this record stands for; the event id, or None if the record makes no event."""
    try:
        event = event_for(record, source=source)
    except PoisonRecordError as error:
        # Redelivery cannot mend it, and while it failed every later record would be held back with it
        # (in order), until the mapping skipped the whole rest of the batch unpublished.
        dead_letters.dead_letter(record.raw_event, str(error))
        metrics.add_metric(name="PoisonRecords", unit=MetricUnit.Count, value=1)
        logger.error("poison stream record dead-lettered", extra={"reason": str(error), "eventID": record.event_id})
        return None
    if event is None:
        return None
    try:
        publisher.publish(event)
    except Exception:
        # Reported as a batch item failure: redelivered until MaximumRetryAttempts, then to the DLQ.
        logger.exception(
            "stream record not relayed",
            extra={"sequenceNumber": record.dynamodb.sequence_number if record.dynamodb else None},
        )
        raise
    metrics.add_metric(name="OrderEventsPublished", unit=MetricUnit.Count, value=1)
    logger.info("order event published", extra={"orderId": event.order_id, "type": event.type, "eventId": event.id})
    if event.status == "COMPENSATION_FAILED":
        # The state machine writes the order itself: the relay is the code that sees it, and an alarm watches this.
        metrics.add_metric(name="CompensationFailures", unit=MetricUnit.Count, value=1)
        logger.error(
            "compensation failed; the order needs manual action",
            extra={"orderId": event.order_id, "failedCompensations": event.data.get("failedCompensations")},
        )
    return event.id


def event_for(record: DynamoDBRecord, *, source: str) -> OrderEvent | None:
    """The event a stream record stands for, or None if it is no order state change.

    Raises PoisonRecordError if the record should make an event but its new image has no usable order view.
    """
    change = record.dynamodb
    if change is None:
        raise PoisonRecordError(f"stream record {record.event_id} has no dynamodb change")
    if not str(change.keys.get("orderId", "")).startswith("ord_"):
        return None  # an Idempotency-Key record beside the orders (the stream filter drops it already)
    status = change.new_image.get("status")
    if record.event_name is DynamoDBRecordEventName.INSERT:
        event_type: str | None = PLACED
    elif record.event_name is DynamoDBRecordEventName.MODIFY and status != change.old_image.get("status"):
        event_type = TYPE_BY_STATUS.get(str(status))
    elif record.event_name is DynamoDBRecordEventName.MODIFY and "resolvedAt" not in change.old_image:
        event_type = RESOLVED if "resolvedAt" in change.new_image else None  # ops resolve: the status stays
    else:
        event_type = None  # a REMOVE, or a write that did not change the status
    if event_type is None:
        return None
    view = _order_view(change.new_image, record.event_id)
    if view["status"] != status:
        raise PoisonRecordError(
            f"stream record {record.event_id}: status {status!r} but document says {view['status']!r}"
        )
    if event_type == RESOLVED and not isinstance(view.get("resolution"), dict):
        raise PoisonRecordError(f"stream record {record.event_id}: resolved, but the document has no resolution")
    return OrderEvent(
        type=event_type,
        source=source,
        order_id=view["orderId"],
        status=view["status"],
        time=view["updatedAt"],  # when the state changed, not when the record was relayed
        data=view,
        caller=str(change.new_image["caller"]) if change.new_image.get("caller") else None,
    )


def _order_view(new_image: dict[str, Any], event_id: str | None) -> dict[str, Any]:
    try:
        view = json.loads(new_image["document"])
    except (KeyError, TypeError, ValueError) as error:
        raise PoisonRecordError(f"stream record {event_id}: new image has no JSON document") from error
    if not isinstance(view, dict) or not all(
        isinstance(view.get(key), str) for key in ("orderId", "status", "updatedAt")
    ):
        raise PoisonRecordError(f"stream record {event_id}: document is not an order view")
    return view
