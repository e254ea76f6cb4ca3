"""Outbox relay Lambda: the orders table's stream -> one order event per state change on SNS FIFO.

Records are relayed in order (service.relay_record); this module is the stream plumbing around it.
"""

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    FailureResponse,
    SuccessResponse,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from saga_common.entry import lambda_entry

from outbox_relay import repository
from outbox_relay.errors import EarlierRecordFailedError
from outbox_relay.service import DeadLetters, EventPublisher, relay_record
from outbox_relay.settings import OutboxRelaySettings


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


@lambda_entry(OutboxRelaySettings)
def lambda_handler(
    event: dict[str, Any],
    context: LambdaContext,
    settings: OutboxRelaySettings,
    *,
    publisher: EventPublisher | None = None,
    dead_letters: DeadLetters | None = None,
) -> PartialItemFailureResponse:
    """`publisher` and `dead_letters` default to the repository (the SNS topic, the dead-letter queue);
    tests pass their own."""
    sns_topic: EventPublisher = repository
    dead_letter_queue: DeadLetters = repository
    relay = partial(
        relay_record,
        publisher=publisher or sns_topic,
        dead_letters=dead_letters or dead_letter_queue,
        source=settings.event_source,
    )
    return process_partial_response(event=event, record_handler=relay, processor=processor, context=context)
