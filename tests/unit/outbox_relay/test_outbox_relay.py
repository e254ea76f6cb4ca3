"""The outbox relay: orders table stream records in, one order event per state change out, in order.

Messages are read back from the audit FIFO queue subscribed (raw) to the topic, as a consumer sees them.
"""

import json
import uuid
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from boto3.dynamodb.types import TypeSerializer
from jsonschema import Draft202012Validator
from outbox_relay import repository
from outbox_relay.handler import lambda_handler
from outbox_relay.model import EVENT_ID_NAMESPACE, OrderEvent
from outbox_relay.service import event_for

from tests.support.aws import LocalAws
from tests.support.events import read_event
from tests.support.outbox import SCHEMA, audit_messages, envelope_schema

SAMPLE = read_event("outbox-relay-stream.json")
ORDER = "ord_62fcf1ea2535e70382feef0260147a023e21dde897bc1cf2d989a35c12a31466"
PENDING = json.loads(SAMPLE["Records"][0]["dynamodb"]["NewImage"]["document"]["S"])
CONFIRMED = json.loads(SAMPLE["Records"][1]["dynamodb"]["NewImage"]["document"]["S"])
CANCELLED = PENDING | {
    "status": "CANCELLED",
    "failureReason": {"code": "OUT_OF_STOCK", "detail": "SKU-MUG: requested 2, available 1"},
    "updatedAt": "2026-11-25T09:14:04.001Z",
}
COMPENSATION_FAILED = CANCELLED | {
    "status": "COMPENSATION_FAILED",
    "failedCompensations": [{"service": "payments", "error": "States.Timeout"}],
}
RESOLVED = COMPENSATION_FAILED | {
    "resolution": {"note": "refunded by hand, ticket 42", "resolvedAt": "2026-11-25T10:00:00Z",
                   "statusWhenResolved": "COMPENSATION_FAILED"},
    "updatedAt": "2026-11-25T10:00:00Z",
}  # fmt: skip


class RecordingPublisher:
    """Stands in for SNS: keeps what it is asked to publish, and refuses the orders it is told to."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.published: list[OrderEvent] = []

    def publish(self, event: OrderEvent) -> None:
        if event.order_id == self.refuse:
            raise ConnectionError("SNS unreachable")
        self.published.append(event)


class RecordingDeadLetters:
    """Stands in for the relay's dead-letter queue: keeps what it is sent, or fails when told to."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[dict[str, Any], str]] = []

    def dead_letter(self, record: dict[str, Any], reason: str) -> None:
        if self.fail:
            raise ConnectionError("SQS unreachable")
        self.sent.append((record, reason))


def image(view: dict[str, Any]) -> dict[str, Any]:
    """An orders table item as a stream image (DynamoDB JSON)."""
    item = {"orderId": view["orderId"], "status": view["status"], "updatedAt": view["updatedAt"],
            "requestHash": "0" * 64, "version": 1, "document": json.dumps(view)}  # fmt: skip
    if "resolution" in view:  # saga-ops resolve: the marker the stream filter passes
        item["resolvedAt"] = view["resolution"]["resolvedAt"]
    return {name: TypeSerializer().serialize(value) for name, value in item.items()}


def record(name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None, *, seq: int) -> dict[str, Any]:
    """A stream record as Lambda delivers it, from the order views before and after the change."""
    order_id = (new or old or {})["orderId"]
    change: dict[str, Any] = {"Keys": {"orderId": {"S": order_id}}, "SequenceNumber": str(seq),
                              "StreamViewType": "NEW_AND_OLD_IMAGES"}  # fmt: skip
    if new is not None:
        change["NewImage"] = image(new)
    if old is not None:
        change["OldImage"] = image(old)
    return {"eventID": f"e{seq}", "eventName": name, "eventSource": "aws:dynamodb", "dynamodb": change}


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def sequence_numbers(response: Mapping[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


# ---------------------------------------------------------------- publishing
def test_the_sample_batch_publishes_one_valid_event_per_state_change_in_order(
    aws: LocalAws, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    response = lambda_handler(read_event("outbox-relay-stream.json"), lambda_context)

    assert response == {"batchItemFailures": []}
    messages = audit_messages(aws)
    envelopes = [json.loads(message["Body"]) for message in messages]
    for envelope in envelopes:
        envelope_schema.validate(envelope)
    assert [envelope["type"] for envelope in envelopes] == ["order.placed", "order.confirmed"]
    assert [envelope["data"] for envelope in envelopes] == [PENDING, CONFIRMED]
    assert envelopes[1] == {
        "id": str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{ORDER}:CONFIRMED")),
        "type": "order.confirmed",
        "source": "order-saga.orders",
        "time": CONFIRMED["updatedAt"],
        "orderId": ORDER,
        "schemaVersion": "1.1",
        "data": CONFIRMED,
        "caller": "arn:aws:iam::123456789012:user/storefront",
    }
    assert [message["Attributes"]["MessageGroupId"] for message in messages] == [ORDER, ORDER]
    assert [message["Attributes"]["MessageDeduplicationId"] for message in messages] == [
        f"{ORDER}:PENDING",
        f"{ORDER}:CONFIRMED",
    ]
    assert [message["MessageAttributes"]["type"]["StringValue"] for message in messages] == [
        "order.placed",
        "order.confirmed",
    ]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [value for blob in emf for value in blob.get("OrderEventsPublished", [])] == [1, 1]


def test_a_redelivered_batch_publishes_nothing_twice(aws: LocalAws, lambda_context: Any) -> None:
    lambda_handler(read_event("outbox-relay-stream.json"), lambda_context)

    lambda_handler(read_event("outbox-relay-stream.json"), lambda_context)

    messages = audit_messages(aws)
    assert [message["Attributes"]["MessageDeduplicationId"] for message in messages] == [
        f"{ORDER}:PENDING",
        f"{ORDER}:CONFIRMED",
    ]


@pytest.mark.parametrize(
    ("view", "event_type"),
    [(CANCELLED, "order.cancelled"), (COMPENSATION_FAILED, "order.compensation_failed")],
)
def test_a_failed_order_is_published_with_its_reason(
    aws: LocalAws, lambda_context: Any, view: dict[str, Any], event_type: str
) -> None:
    response = lambda_handler(batch(record("MODIFY", view, PENDING, seq=3)), lambda_context)

    assert response == {"batchItemFailures": []}
    [message] = audit_messages(aws)
    envelope = json.loads(message["Body"])
    envelope_schema.validate(envelope)
    assert (envelope["type"], envelope["data"]) == (event_type, view)
    assert message["Attributes"]["MessageDeduplicationId"] == f"{ORDER}:{view['status']}"


def test_an_operators_resolution_is_published_once_with_its_note(aws: LocalAws, lambda_context: Any) -> None:
    resolved = record("MODIFY", RESOLVED, COMPENSATION_FAILED, seq=4)
    rewritten = record("MODIFY", RESOLVED | {"updatedAt": "2026-11-25T10:05:00Z"}, RESOLVED, seq=5)

    response = lambda_handler(batch(resolved, rewritten), lambda_context)

    assert response == {"batchItemFailures": []}
    [message] = audit_messages(aws)  # a later write of a resolved order is no new event
    envelope = json.loads(message["Body"])
    envelope_schema.validate(envelope)
    assert (envelope["type"], envelope["time"], envelope["data"]) == ("order.resolved", RESOLVED["updatedAt"], RESOLVED)
    assert envelope["data"]["status"] == "COMPENSATION_FAILED"  # a resolution leaves the status as it was
    # Its own deduplication id: the COMPENSATION_FAILED event before it must not swallow it in SNS FIFO.
    assert message["Attributes"]["MessageDeduplicationId"] == f"{ORDER}:RESOLVED"
    assert envelope["id"] == str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{ORDER}:RESOLVED"))


def test_a_resolved_record_without_a_resolution_in_its_document_is_poison(aws: LocalAws, lambda_context: Any) -> None:
    broken = record("MODIFY", COMPENSATION_FAILED, COMPENSATION_FAILED, seq=4)
    broken["dynamodb"]["NewImage"]["resolvedAt"] = {"S": "2026-11-25T10:00:00Z"}
    dead_letters = RecordingDeadLetters()

    response = lambda_handler(batch(broken), lambda_context, publisher=RecordingPublisher(), dead_letters=dead_letters)

    assert response == {"batchItemFailures": []}
    [(_, reason)] = dead_letters.sent
    assert "resolved, but the document has no resolution" in reason


def test_the_schema_refuses_a_resolved_event_without_its_resolution() -> None:
    envelope = OrderEvent(type="order.resolved", source="s", order_id=ORDER, status="COMPENSATION_FAILED",
                          time=COMPENSATION_FAILED["updatedAt"], data=COMPENSATION_FAILED).to_dict()  # fmt: skip
    assert not envelope_schema.is_valid(envelope)


# ---------------------------------------------------------------- what makes no event
@pytest.mark.parametrize(
    "skipped",
    [
        record("MODIFY", PENDING, PENDING, seq=1),  # a write that left the order PENDING
        record("MODIFY", CONFIRMED, CONFIRMED, seq=1),  # a rewrite of a final status
        record("REMOVE", None, CONFIRMED, seq=1),
    ],
    ids=["still-pending", "rewrite", "remove"],
)
def test_a_record_that_changes_no_status_is_skipped_not_failed(
    aws: LocalAws, lambda_context: Any, skipped: dict[str, Any]
) -> None:
    publisher = RecordingPublisher()

    response = lambda_handler(
        batch(skipped, record("MODIFY", CANCELLED, PENDING, seq=2)), lambda_context, publisher=publisher
    )

    assert response == {"batchItemFailures": []}
    assert [event.type for event in publisher.published] == ["order.cancelled"]


# ---------------------------------------------------------------- failures keep the order
def test_a_failed_publish_fails_its_record_and_every_later_one(aws: LocalAws, lambda_context: Any) -> None:
    other = PENDING | {"orderId": "ord_" + "1" * 64}
    publisher = RecordingPublisher(refuse=other["orderId"])
    records = [
        record("INSERT", PENDING, seq=1),
        record("INSERT", other, seq=2),
        record("MODIFY", CONFIRMED, PENDING, seq=3),
    ]

    response = lambda_handler(batch(*records), lambda_context, publisher=publisher)

    # Lambda resumes at sequence number 2: publishing 3 now would let it overtake what comes again.
    assert sequence_numbers(response) == ["2", "3"]
    assert [(event.order_id, event.type) for event in publisher.published] == [(ORDER, "order.placed")]


def test_when_the_first_record_fails_the_whole_batch_is_retried(aws: LocalAws, lambda_context: Any) -> None:
    publisher = RecordingPublisher(refuse=ORDER)

    with pytest.raises(BatchProcessingError):  # an invocation error: Lambda bisects and retries the batch
        lambda_handler(read_event("outbox-relay-stream.json"), lambda_context, publisher=publisher)

    assert publisher.published == []


@pytest.mark.parametrize(
    "new_image",
    [
        {"orderId": {"S": ORDER}, "status": {"S": "PENDING"}},
        image(PENDING) | {"document": {"S": "{not json"}},
        image(PENDING) | {"document": {"S": json.dumps({"status": "PENDING"})}},
        image(PENDING) | {"status": {"S": "CONFIRMED"}},  # the status attribute and the document disagree
    ],
    ids=["no-document", "not-json", "not-an-order-view", "status-mismatch"],
)
def test_a_poison_record_is_dead_lettered_whole_and_the_batch_goes_on(
    aws: LocalAws, lambda_context: Any, caplog: pytest.LogCaptureFixture, new_image: dict[str, Any]
) -> None:
    """Redelivery cannot mend a poison record; held back, it would take every later record with it."""
    publisher, dead_letters = RecordingPublisher(), RecordingDeadLetters()
    poison = record("INSERT", PENDING, seq=2)
    poison["dynamodb"]["NewImage"] = new_image
    before = record("INSERT", PENDING | {"orderId": "ord_" + "2" * 26}, seq=1)
    after = record("MODIFY", CONFIRMED, PENDING, seq=3)

    response = lambda_handler(
        batch(before, poison, after), lambda_context, publisher=publisher, dead_letters=dead_letters
    )

    assert sequence_numbers(response) == []
    assert len(publisher.published) == 2
    [(kept, reason)] = dead_letters.sent
    assert kept == poison
    assert "stream record" in reason
    [logged] = [each for each in caplog.records if each.levelname == "ERROR"]
    assert logged.getMessage() == "poison stream record dead-lettered"


def test_a_poison_record_that_cannot_be_dead_lettered_is_redelivered_with_the_rest(
    aws: LocalAws, lambda_context: Any
) -> None:
    publisher = RecordingPublisher()
    poison = record("INSERT", PENDING, seq=1)
    poison["dynamodb"]["NewImage"] = {"orderId": {"S": ORDER}, "status": {"S": "PENDING"}}

    with pytest.raises(BatchProcessingError):  # every record failed: the whole batch is redelivered
        lambda_handler(
            batch(poison, record("MODIFY", CONFIRMED, PENDING, seq=2)), lambda_context, publisher=publisher,
            dead_letters=RecordingDeadLetters(fail=True),
        )  # fmt: skip

    assert publisher.published == []


def test_dead_letters_go_to_the_relay_queue_whole(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="relay-dlq")["QueueUrl"]
    monkeypatch.setenv("POISON_RECORDS_QUEUE_URL", queue_url)
    poison = record("INSERT", PENDING, seq=7)

    repository.dead_letter(poison, "no document")

    [message] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert json.loads(message["Body"]) == {"reason": "no document", "record": poison}


def test_event_ids_are_the_same_on_every_redelivery() -> None:
    [first, second] = [event_for(DynamoDBRecord(SAMPLE["Records"][1]), source="s") for _ in range(2)]

    assert first is not None
    assert second is not None
    assert first.id == second.id == str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{ORDER}:CONFIRMED"))
    assert first.to_json() == second.to_json()


# ---------------------------------------------------------------- the schema
def test_the_schema_is_valid_and_ties_each_type_to_its_status() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    event = event_for(DynamoDBRecord(SAMPLE["Records"][1]), source="order-saga.orders")
    assert event is not None
    envelope = event.to_dict()
    envelope_schema.validate(envelope)

    assert not envelope_schema.is_valid(envelope | {"type": "order.placed"})
    assert not envelope_schema.is_valid(envelope | {"data": CONFIRMED | {"total": "44.99"}})
    assert not envelope_schema.is_valid(envelope | {"data": CONFIRMED | {"token": "tok_visa"}})
    assert not envelope_schema.is_valid(envelope | {"id": "not-a-uuid"})
    assert not envelope_schema.is_valid(
        envelope | {"type": "order.compensation_failed", "data": COMPENSATION_FAILED | {"failedCompensations": []}}
    )
