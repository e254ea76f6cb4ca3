"""Outbox relay Lambda: the orders table's stream -> one order event per state change on SNS FIFO.

Delivery is at least once: a record whose publish failed is reported in `batchItemFailures` and
redelivered; SNS FIFO deduplication (`<orderId>:<status>`) drops the copy a retry may publish.
A record that can never make an event (poison) goes to the dead-letter queue whole, and the batch goes on.
"""

import os
from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    FailureResponse,
    SuccessResponse,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from saga_common.aws import client
from saga_common.observability import logger, metrics, tracer

from outbox_relay.events import PoisonRecordError, event_for
from outbox_relay.publisher import DeadLetters, EventPublisher, SnsPublisher, SqsDeadLetters


class EarlierRecordFailedError(Exception):
    """Not attempted, because an earlier record of the batch failed."""


class InOrderBatchProcessor(BatchProcessor):
    """Stops at the first failed record and reports it and every later record as failed.

    Lambda resumes a stream at the lowest failed sequence number and redelivers everything after it
    anyway; publishing a later record now could put an order's events out of order (its
    `order.confirmed` before the `order.placed` that failed).
    """

    _not_attempted = (
        EarlierRecordFailedError,
        EarlierRecordFailedError("an earlier record of this batch failed"),
        None,
    )

    def __init__(self) -> None:
        super().__init__(event_type=EventType.DynamoDBStreams)

    def _process_record(self, record: dict[str, Any]) -> SuccessResponse | FailureResponse:
        if self.fail_messages:
            return self.failure_handler(
                record=self._to_batch_type(record, self.event_type), exception=self._not_attempted
            )
        return super()._process_record(record)


processor = InOrderBatchProcessor()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any],
    context: LambdaContext,
    *,
    publisher: EventPublisher | None = None,
    dead_letters: DeadLetters | None = None,
) -> PartialItemFailureResponse:
    """`publisher` defaults to the SNS topic of ORDER_EVENTS_TOPIC_ARN, `dead_letters` to the queue of
    POISON_RECORDS_QUEUE_URL; tests pass their own."""
    relay = partial(
        relay_record,
        publisher=publisher or SnsPublisher(os.environ["ORDER_EVENTS_TOPIC_ARN"], client("sns")),
        dead_letters=dead_letters or SqsDeadLetters(os.environ.get("POISON_RECORDS_QUEUE_URL", ""), client("sqs")),
        source=os.environ["EVENT_SOURCE"],
    )
    return process_partial_response(event=event, record_handler=relay, processor=processor, context=context)


def relay_record(
    record: DynamoDBRecord, *, publisher: EventPublisher, dead_letters: DeadLetters, source: str
) -> str | None:
    """Publish the event this record stands for; the event id, or None if the record makes no event."""
    try:
        event = event_for(record, source=source)
    except PoisonRecordError as error:
        # Redelivery cannot mend it, and while it failed every later record would be held back with it
        # (in order), until the mapping skipped the whole rest of the batch unpublished.
        dead_letters.send(record.raw_event, str(error))
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
    return event.id
