"""saga_local.awslambda.streams: Lambda's DynamoDB stream event source mapping, against moto's stream (in-process).

Most consumers here are Python callables, so that a test scripts exactly what each invocation answers;
the last test runs a real function in the Lambda runtime.
"""

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from saga_local.awslambda.runtime import LambdaRuntime
from saga_local.awslambda.streams import StreamPoller
from saga_local.cloudformation import template
from saga_local.cloudformation.specs import EventSourceMappingSpec, FunctionSpec
from tests.support.wait import wait_for

REGION = "us-east-1"
ACCOUNT = "123456789012"
FUNCTION = "relay"
FIXTURES = Path(__file__).parents[1] / "fixtures"
# The outbox relay's FilterCriteria as template.yaml has them: a new order, a move to a final status, a resolution.
RELAY_FILTERS = tuple(
    json.loads(f["Pattern"])
    for f in template.load()["Resources"]["OutboxRelayFunction"]["Properties"]["Events"]["OrdersStream"]["Properties"][
        "FilterCriteria"
    ]["Filters"]
)


@dataclass(frozen=True)
class Outcome:
    """An InvokeResult's fields the poller reads."""

    payload: Any = None
    error: dict[str, Any] | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def failed(error_type: str = "RelayError") -> Outcome:
    return Outcome(error={"errorMessage": "boom", "errorType": error_type, "stackTrace": []})


def item_failures(*sequence_numbers: str) -> Outcome:
    return Outcome({"batchItemFailures": [{"itemIdentifier": number} for number in sequence_numbers]})


class Consumer:
    """A function: records each batch it gets (as the keys of its records) and answers `behaviour(records)`."""

    def __init__(self, behaviour: Callable[[list[dict[str, Any]]], Outcome] | None = None) -> None:
        self.behaviour = behaviour or (lambda records: Outcome())
        self.events: list[dict[str, Any]] = []
        self.outcomes: list[Outcome] = []

    @property
    def batches(self) -> list[list[str]]:
        return [[keys(record) for record in event["Records"]] for event in self.events]

    def __call__(self, function_name: str, event: dict[str, Any]) -> Outcome:
        assert function_name == FUNCTION
        json.dumps(event)  # what the runtime sends must survive JSON
        self.events.append(event)
        self.outcomes.append(self.behaviour(event["Records"]))
        return self.outcomes[-1]


def keys(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["pk"]["S"])


class Stream:
    """A table with a stream, an on-failure queue, and the pollers a test starts on them."""

    def __init__(self) -> None:
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        description = self.dynamodb.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]
        self.arn = description["LatestStreamArn"]
        self.queue_url = self.sqs.create_queue(QueueName="relay-dlq")["QueueUrl"]
        self.queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:relay-dlq"
        self.pollers: list[StreamPoller] = []

    def put(self, pk: str, **attributes: Any) -> None:
        item: dict[str, dict[str, Any]] = {"pk": {"S": pk}}
        for name, value in attributes.items():
            item[name] = {"BOOL": value} if isinstance(value, bool) else {"S": str(value)}
        self.dynamodb.put_item(TableName="orders", Item=item)

    def mapping(self, **settings: Any) -> EventSourceMappingSpec:
        return EventSourceMappingSpec(
            logical_id="RelayMapping", uuid=str(uuid.uuid4()), function_name=FUNCTION, stream_arn=self.arn,
            on_failure_destination_arn=self.queue_arn, **settings,
        )  # fmt: skip

    def poll(self, invoke: Any, **settings: Any) -> StreamPoller:
        poller = StreamPoller(
            lambda: boto3.client("dynamodbstreams", region_name=REGION),
            invoke,
            lambda: boto3.client("sqs", region_name=REGION),
            self.mapping(**settings),
            poll_interval_seconds=0.05,
            retry_delay_seconds=0.01,
        ).start()
        self.pollers.append(poller)
        return poller

    def sequence_numbers(self) -> dict[str, str]:
        """pk -> the sequence number of its last record."""
        streams = boto3.client("dynamodbstreams", region_name=REGION)
        [shard] = streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        iterator = streams.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
        records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
        return {keys(record): record["dynamodb"]["SequenceNumber"] for record in records}

    def dead_letter_count(self) -> int:
        """How many records the on-failure queue holds, without receiving them."""
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def dead_letters(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(message["Body"]) for message in messages.get("Messages", [])]


@pytest.fixture
def stream() -> Iterator[Stream]:
    from moto import mock_aws

    with mock_aws():
        stream = Stream()
        yield stream
        for poller in stream.pollers:
            poller.stop()


def test_batches_arrive_in_order_in_the_event_lambda_delivers(stream: Stream) -> None:
    for pk in "abcdefg":
        stream.put(pk)
    consumer = Consumer()

    poller = stream.poll(consumer, batch_size=3)
    assert poller.wait_idle()

    assert consumer.batches == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    record = consumer.events[0]["Records"][0]
    assert set(record) == {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
                           "eventSourceARN"}  # fmt: skip
    assert (record["eventName"], record["eventSource"], record["awsRegion"]) == ("INSERT", "aws:dynamodb", REGION)
    assert record["eventSourceARN"] == stream.arn
    dynamodb = record["dynamodb"]
    assert dynamodb["Keys"] == {"pk": {"S": "a"}}
    assert dynamodb["NewImage"] == {"pk": {"S": "a"}}
    assert dynamodb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(dynamodb["ApproximateCreationDateTime"], int)  # epoch seconds, not a date string
    assert abs(dynamodb["ApproximateCreationDateTime"] - time.time()) < 60
    assert dynamodb["SequenceNumber"] == stream.sequence_numbers()["a"]

    stream.put("h")  # a write after the poller caught up
    assert poller.wait_idle()
    assert consumer.batches[-1] == ["h"]
    counters = poller.counters
    assert (counters.batches, counters.records_delivered, counters.failures) == (4, 8, 0)


def test_latest_starts_after_what_the_stream_already_holds(stream: Stream) -> None:
    stream.put("before")
    consumer = Consumer()
    poller = stream.poll(consumer, starting_position="LATEST")
    assert poller.wait_idle()

    stream.put("after")
    assert poller.wait_idle()

    assert consumer.batches == [["after"]]


def test_the_batching_window_gathers_records_into_one_batch(stream: Stream) -> None:
    consumer = Consumer()
    poller = stream.poll(consumer, batch_size=10, maximum_batching_window_seconds=1)
    assert poller.wait_idle()

    for pk in "abc":
        stream.put(pk)
        time.sleep(0.3)  # the behaviour under test: writes spread over the 1 s window still make one batch
    assert poller.wait_idle(5)

    assert consumer.batches == [["a", "b", "c"]]


def test_records_the_filter_rejects_are_dropped(stream: Stream) -> None:
    stream.put("ord_1", status="PENDING")  # INSERT of an order: passes
    stream.put("ord_1", status="PENDING")  # an identical rewrite: MODIFY, moto emits it too; filtered out
    stream.put("ord_1", status="CONFIRMED")  # MODIFY to a final status: passes
    stream.dynamodb.delete_item(TableName="orders", Key={"pk": {"S": "ord_1"}})  # REMOVE: filtered out
    stream.put("key_1", status="CLAIMED")  # INSERT of an Idempotency-Key record: no order, filtered out
    stream.put("ord_2", status="COMPENSATION_FAILED")  # INSERT: passes
    stream.put("ord_2", status="PENDING")  # MODIFY, not a final status: filtered out
    stream.put("ord_2", status="PENDING", resolvedAt="2026-12-04T10:00:00Z")  # ops resolve: passes
    consumer = Consumer()

    # The template's patterns name the orders table's key, orderId; this table's key is pk.
    filters = tuple(json.loads(json.dumps(pattern).replace('"orderId"', '"pk"')) for pattern in RELAY_FILTERS)
    poller = stream.poll(consumer, filter_patterns=filters)
    assert poller.wait_idle()

    [records] = [event["Records"] for event in consumer.events]
    assert [(record["eventName"], record["dynamodb"]["NewImage"]["status"]["S"]) for record in records] == [
        ("INSERT", "PENDING"),
        ("MODIFY", "CONFIRMED"),
        ("INSERT", "COMPENSATION_FAILED"),
        ("MODIFY", "PENDING"),
    ]
    assert "resolvedAt" in records[-1]["dynamodb"]["NewImage"]
    assert poller.counters.records_filtered == 4


def test_reported_item_failures_retry_from_the_lowest_failed_record(stream: Stream) -> None:
    for pk in "abcde":
        stream.put(pk)
    numbers = stream.sequence_numbers()
    answers = iter([item_failures(numbers["d"], numbers["c"]), Outcome()])
    consumer = Consumer(lambda records: next(answers))

    poller = stream.poll(consumer, report_batch_item_failures=True)
    assert poller.wait_idle()

    # a and b were checkpointed; c (the lowest failure) and everything after it came again
    assert consumer.batches == [["a", "b", "c", "d", "e"], ["c", "d", "e"]]
    assert poller.counters.records_delivered == 5
    assert poller.counters.failures == 1


@pytest.mark.parametrize(
    ("answer", "retried"),
    [
        (Outcome(None), False),
        (Outcome({}), False),
        (Outcome({"batchItemFailures": []}), False),
        (Outcome({"batchItemFailures": None}), False),
        (Outcome({"batchItemFailures": [{"itemIdentifier": "12345"}]}), True),  # not a record of the batch
        (Outcome({"batchItemFailures": [{"itemIdentifier": ""}]}), True),
        (Outcome({"batchItemFailures": [{"id": "1"}]}), True),  # a bad key name
        (Outcome("not an object"), True),
    ],
)
def test_a_response_lambda_cannot_use_fails_the_whole_batch(stream: Stream, answer: Outcome, retried: bool) -> None:
    stream.put("a")
    stream.put("b")
    answers = iter([answer, Outcome()])
    consumer = Consumer(lambda records: next(answers))

    poller = stream.poll(consumer, report_batch_item_failures=True)
    assert poller.wait_idle()

    assert consumer.batches == [["a", "b"], ["a", "b"]] if retried else [["a", "b"]]


def test_bisecting_on_function_errors_isolates_a_poison_record(stream: Stream) -> None:
    for pk in ("a", "b", "poison", "d"):
        stream.put(pk)
    consumer = Consumer(lambda records: failed() if "poison" in map(keys, records) else Outcome())

    poller = stream.poll(consumer, bisect_batch_on_function_error=True, maximum_retry_attempts=1)
    assert poller.wait_idle()

    assert consumer.batches == [
        ["a", "b", "poison", "d"],  # fails: split, which is not a retry
        ["a", "b"],
        ["poison", "d"],  # fails: split again
        ["poison"],  # fails...
        ["poison"],  # ...and its one retry: given up on
        ["d"],
    ]
    [dead] = stream.dead_letters()
    number = stream.sequence_numbers()["poison"]
    assert dead["DDBStreamBatchInfo"]["batchSize"] == 1
    assert (
        dead["DDBStreamBatchInfo"]["startSequenceNumber"] == dead["DDBStreamBatchInfo"]["endSequenceNumber"] == number
    )
    assert dead["requestContext"]["approximateInvokeCount"] == 2
    counters = poller.counters
    assert (counters.records_delivered, counters.records_discarded, counters.dlq_messages) == (3, 1, 1)


def test_exhausted_retries_send_the_batch_to_the_destination_and_the_stream_moves_on(stream: Stream) -> None:
    stream.put("bad")
    stream.put("worse")
    consumer = Consumer(lambda records: failed() if keys(records[0]) in ("bad", "worse") else Outcome())

    poller = stream.poll(consumer, maximum_retry_attempts=2)
    assert poller.wait_idle()
    stream.put("good")
    assert poller.wait_idle()

    assert consumer.batches == [["bad", "worse"]] * 3 + [["good"]]  # one try and two retries, then the next
    [dead] = stream.dead_letters()
    numbers = stream.sequence_numbers()
    assert dead == {
        "requestContext": {
            "requestId": consumer.outcomes[2].request_id,
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": dead["timestamp"],
        "DDBStreamBatchInfo": {
            "shardId": dead["DDBStreamBatchInfo"]["shardId"],
            "startSequenceNumber": numbers["bad"],
            "endSequenceNumber": numbers["worse"],
            "approximateArrivalOfFirstRecord": dead["DDBStreamBatchInfo"]["approximateArrivalOfFirstRecord"],
            "approximateArrivalOfLastRecord": dead["DDBStreamBatchInfo"]["approximateArrivalOfLastRecord"],
            "batchSize": 2,
            "streamArn": stream.arn,
        },
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", dead["timestamp"])
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", dead["DDBStreamBatchInfo"]["approximateArrivalOfFirstRecord"]
    )
    assert dead["DDBStreamBatchInfo"]["shardId"].startswith("shardId-")


def test_records_older_than_the_maximum_age_are_given_up_on(stream: Stream) -> None:
    stream.put("stuck")
    consumer = Consumer(lambda records: failed() if keys(records[0]) == "stuck" else Outcome())

    poller = stream.poll(consumer, maximum_record_age_seconds=1)  # retries unlimited: only age ends them
    wait_for(stream.dead_letter_count, timeout=15, message="the stuck record given up on once older than 1 s")
    assert poller.wait_idle()
    stream.put("next")
    assert poller.wait_idle()

    [dead] = stream.dead_letters()
    assert dead["requestContext"]["condition"] == "RecordAgeExceeded"
    assert dead["requestContext"]["approximateInvokeCount"] == len(consumer.batches) - 1
    assert consumer.batches[-1] == ["next"]


def test_a_real_consumer_in_the_lambda_runtime(stream: Stream, tmp_path: Path) -> None:
    """The fixture consumer (ReportBatchItemFailures, in order) fails the record flagged `fail`."""
    runtime = LambdaRuntime("http://127.0.0.1:4566", REGION, tmp_path)
    runtime.register(
        FunctionSpec(
            logical_id="Consumer", name=FUNCTION, arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}",
            code_dir=FIXTURES / "functions" / "consumer", handler="consumer.handler.handler", layer_dirs=(),
            environment={}, timeout_seconds=3, memory_mb=128,
        )
    )  # fmt: skip
    stream.put("a")
    stream.put("b", fail=True)
    stream.put("c")
    try:
        poller = stream.poll(runtime.invoke, report_batch_item_failures=True, maximum_retry_attempts=1)
        assert poller.wait_idle(10)
        stream.put("d")
        assert poller.wait_idle(10)
    finally:
        runtime.close()

    [dead] = stream.dead_letters()
    numbers = stream.sequence_numbers()
    info = dead["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        numbers["b"],
        numbers["c"],
        2,
    )
    assert "responseContext" in dead
    assert "functionError" not in dead["responseContext"]  # the function answered: it reported failures
    relayed = [line for line in (tmp_path / f"{FUNCTION}.log").read_text().splitlines() if line.startswith("relayed")]
    assert relayed == ["relayed a", "relayed d"]
