"""A DynamoDB stream event source mapping, as Lambda runs one, polling moto's stream from a thread.

    poller = StreamPoller(lambda: client("dynamodbstreams"), runtime.invoke, lambda: client("sqs"), mapping)
    poller.start()
    ...
    poller.wait_idle(5)   # tests: every record written so far has been handled
    poller.stop()

moto can run a stream -> Lambda mapping itself, but synchronously inside put_item (and it then empties
the stream), so the mapping is emulated here instead: read the shard from the starting position, drop
what FilterCriteria rejects, batch (BatchSize, MaximumBatchingWindowInSeconds), invoke, and on failure
retry, bisect and finally hand the batch to the on-failure destination, per Lambda's documentation.
The checkpoint lives in memory: a restart starts again from the starting position.
"""

import base64
import itertools
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from moto.events.models import EventPattern

from saga_local.cloudformation.specs import EventSourceMappingSpec

log = logging.getLogger(__name__)
events = logging.getLogger("saga_local.events")  # one line each on the terminal of `saga-local up`

GET_RECORDS_LIMIT = 1000  # DynamoDB Streams' maximum per GetRecords


class InvokeOutcome(Protocol):
    """What an invoke returns (saga_local.awslambda.runtime.InvokeResult is one)."""

    @property
    def payload(self) -> Any: ...
    @property
    def error(self) -> dict[str, Any] | None: ...
    @property
    def request_id(self) -> str: ...


Invoke = Callable[[str, dict[str, Any]], InvokeOutcome]  # (function name or ARN, event) -> outcome


@dataclass
class StreamCounters:
    batches: int = 0  # invocations made
    records_delivered: int = 0  # records the function handled successfully (checkpointed past)
    records_filtered: int = 0  # dropped by FilterCriteria
    failures: int = 0  # invocations that failed: a function error, or records reported failed
    records_discarded: int = 0  # given up on: retries exhausted or too old
    dlq_messages: int = 0  # on-failure records sent to the destination


@dataclass(frozen=True)
class _Record:
    data: dict[str, Any]  # the record as the Lambda event carries it
    sequence_number: str
    created: float  # epoch seconds, for MaximumRecordAgeInSeconds


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    last_sequence_number: str | None = None  # of the last record read: where a new iterator resumes
    buffer: list[_Record] = field(default_factory=list)  # read, matching the filter, not yet delivered
    window_opened: float = 0.0  # when the buffer last went from empty to not empty
    closed: bool = False


@dataclass(frozen=True)
class _Attempt:
    """One invocation's result for a batch: None, or the index of the first record to retry from."""

    failed_from: int | None
    function_error: bool = False
    request_id: str = ""


class StreamPoller:
    def __init__(
        self,
        streams: Callable[[], Any],
        invoke: Invoke,
        sqs: Callable[[], Any] | None,
        spec: EventSourceMappingSpec,
        *,
        sns: Callable[[], Any] | None = None,
        poll_interval_seconds: float = 0.15,
        retry_delay_seconds: float = 0.2,
        max_retry_delay_seconds: float = 5.0,
    ) -> None:
        """`streams`, `sqs`, `sns`: factories of boto3 clients (dynamodbstreams, and the on-failure
        destination's service), called in the poller's thread. `invoke(function, event)` answers
        with an InvokeOutcome. Retries wait `retry_delay_seconds`, doubling up to the maximum."""
        self.spec = spec
        self._streams_factory = streams
        self._invoke = invoke
        self._sqs_factory = sqs
        self._sns_factory = sns
        self.poll_interval_seconds = poll_interval_seconds
        self.retry_delay_seconds = retry_delay_seconds
        self.max_retry_delay_seconds = max_retry_delay_seconds
        self._patterns = [EventPattern.load(json.dumps(pattern)) for pattern in spec.filter_patterns]
        self._counters = StreamCounters()
        self._idle = threading.Condition()  # guards _counters and _idle_passes
        self._idle_passes = 0  # polls of every shard that found nothing to do
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._queue_urls: dict[str, str] = {}

    # ------------------------------------------------------------ public interface

    def start(self) -> "StreamPoller":
        if not self.spec.enabled:  # a disabled mapping reads nothing, as in Lambda
            return self
        self._thread = threading.Thread(target=self._run, name=f"stream-poller-{self.spec.logical_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the invocation in progress (if any); records not yet handled are left unhandled."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def counters(self) -> StreamCounters:
        with self._idle:
            return StreamCounters(**asdict(self._counters))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until the poller has read the stream to its end and handled every record read: two
        idle passes after this call, so that one began after it (a write made before the call is seen)."""
        with self._idle:
            target = self._idle_passes + 2
            return self._idle.wait_for(lambda: self._idle_passes >= target, timeout)

    # ------------------------------------------------------------ the polling loop

    def _run(self) -> None:
        shards: list[_Shard] = []
        while not self._stopping.is_set() and not shards:
            try:
                self._client = self._streams_factory()
                description = self._client.describe_stream(StreamArn=self.spec.stream_arn)["StreamDescription"]
                # moto has one shard per stream and never splits it: the shards found now are all there will be.
                shards = [_Shard(shard["ShardId"]) for shard in description["Shards"]]
            except Exception:
                log.exception("cannot describe stream %s; retrying", self.spec.stream_arn)
                self._stopping.wait(1)
        while not self._stopping.is_set():
            try:
                busy = self._poll(shards)
            except Exception:  # a bug here must not end the mapping silently
                log.exception("stream poller %s failed; continuing", self.spec.logical_id)
                busy = False
            if not busy:
                self._stopping.wait(self.poll_interval_seconds)

    def _poll(self, shards: list[_Shard]) -> bool:
        """One pass over the shards: read, deliver what is ready. True if it delivered a batch (poll
        again at once); an idle pass (nothing read, nothing waiting) is counted for wait_idle."""
        delivered, read_any = False, False
        for shard in shards:
            read_any |= self._read(shard) != 0  # records read, or a failed read: not idle either way
            batch = self._ready_batch(shard)
            if batch:
                self._deliver(shard, batch)
                delivered = True
        if not delivered and not read_any and all(not shard.buffer for shard in shards):
            with self._idle:
                self._idle_passes += 1
                self._idle.notify_all()
        return delivered

    def _read(self, shard: _Shard) -> int:
        """Read what the shard has past the last record read, while there is room for a batch.
        Returns how many records were read, -1 if reading failed."""
        if shard.closed or len(shard.buffer) >= self.spec.batch_size:
            return 0
        try:
            if shard.iterator is None:
                shard.iterator = self._new_iterator(shard)
            response = self._client.get_records(ShardIterator=shard.iterator, Limit=GET_RECORDS_LIMIT)
        except Exception:  # an expired or unknown iterator, the endpoint restarting: start again from the checkpoint
            log.exception("reading shard %s of %s failed", shard.shard_id, self.spec.stream_arn)
            shard.iterator = None
            self._stopping.wait(1)
            return -1
        shard.iterator = response.get("NextShardIterator")
        shard.closed = shard.iterator is None
        for raw in response["Records"]:
            record = _lambda_record(raw, self.spec.stream_arn)
            shard.last_sequence_number = record.sequence_number
            if self._patterns and not any(pattern.matches_event(cast(Any, record.data)) for pattern in self._patterns):
                self._count(records_filtered=1)  # Lambda drops it and checkpoints past it
                continue
            if not shard.buffer:
                shard.window_opened = time.monotonic()
            shard.buffer.append(record)
        return len(response["Records"])

    def _new_iterator(self, shard: _Shard) -> str:
        if shard.last_sequence_number is not None:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.last_sequence_number}
        else:
            position = {"ShardIteratorType": self.spec.starting_position}
        response = self._client.get_shard_iterator(StreamArn=self.spec.stream_arn, ShardId=shard.shard_id, **position)
        return str(response["ShardIterator"])

    def _ready_batch(self, shard: _Shard) -> list[_Record]:
        """A batch once it is full or the batching window since its first record has passed."""
        if not shard.buffer:
            return []
        window_over = time.monotonic() - shard.window_opened >= self.spec.maximum_batching_window_seconds
        if len(shard.buffer) < self.spec.batch_size and not window_over:
            return []
        batch = shard.buffer[: self.spec.batch_size]
        del shard.buffer[: self.spec.batch_size]
        if shard.buffer:
            shard.window_opened = time.monotonic()
        return batch

    # ------------------------------------------------------------ delivery, retries, bisection

    def _deliver(self, shard: _Shard, batch: list[_Record]) -> None:
        """Deliver a batch until every record is handled or given up on, in order. A function error
        splits the batch in halves when BisectBatchOnFunctionError is set (not counted as a retry);
        reported item failures move the checkpoint to the lowest failed record and retry from there."""
        parts = deque([batch])
        while parts and not self._stopping.is_set():
            part = parts.popleft()
            invocations = 0  # of this part since its first record last moved
            last: _Attempt | None = None
            while part and not self._stopping.is_set():
                expired = self._expired(part)
                if expired:
                    self._discard(shard, part[:expired], "RecordAgeExceeded", invocations, last)
                    part, invocations, last = part[expired:], 0, None
                    continue
                last = self._attempt(part)
                invocations += 1
                if last.failed_from is None:
                    self._count(records_delivered=len(part))
                    break
                self._count(failures=1)
                events.warning(
                    "stream %s: %s failed a batch of %d record(s) (%s); retrying from record %d",
                    self.spec.logical_id, self.spec.function_name, len(part),
                    "function error" if last.function_error else "batch item failure", last.failed_from,
                )  # fmt: skip
                if last.failed_from > 0:  # the records before the failed one are checkpointed
                    self._count(records_delivered=last.failed_from)
                    part, invocations = part[last.failed_from :], 0
                    continue
                if last.function_error and self.spec.bisect_batch_on_function_error and len(part) > 1:
                    half = len(part) // 2
                    parts.extendleft([part[half:], part[:half]])
                    break
                if 0 <= self.spec.maximum_retry_attempts < invocations:
                    self._discard(shard, part, "RetryAttemptsExhausted", invocations, last)
                    break
                delay = self.retry_delay_seconds * 2 ** (invocations - 1)
                self._stopping.wait(min(delay, self.max_retry_delay_seconds))

    def _attempt(self, part: list[_Record]) -> _Attempt:
        try:
            result = self._invoke(self.spec.function_name, {"Records": [record.data for record in part]})
        except Exception:  # the runtime itself failed (the function is unknown, it is closing): retried the same
            log.exception("invoking %s failed", self.spec.function_name)
            self._count(batches=1)
            return _Attempt(0, function_error=True)
        self._count(batches=1)
        if result.error is not None:
            return _Attempt(0, function_error=True, request_id=result.request_id)
        if not self.spec.report_batch_item_failures:
            return _Attempt(None, request_id=result.request_id)
        return _Attempt(_first_failed(part, result.payload), request_id=result.request_id)

    def _expired(self, part: list[_Record]) -> int:
        """How many records at the front of `part` are older than MaximumRecordAgeInSeconds."""
        if self.spec.maximum_record_age_seconds < 0:
            return 0
        oldest_allowed = time.time() - self.spec.maximum_record_age_seconds
        return sum(1 for _ in itertools.takewhile(lambda record: record.created < oldest_allowed, part))

    # ------------------------------------------------------------ the on-failure destination

    def _discard(
        self, shard: _Shard, records: list[_Record], condition: str, invocations: int, last: _Attempt | None
    ) -> None:
        self._count(records_discarded=len(records))
        destination = self.spec.on_failure_destination_arn
        log.warning(
            "%s: %d record(s) of %s discarded (%s)", self.spec.function_name, len(records), shard.shard_id, condition
        )
        if not destination:
            events.warning("stream %s: %d record(s) dropped (%s)", self.spec.logical_id, len(records), condition)
            return
        events.warning(
            "stream %s: %d record(s) dead-lettered to %s (%s)",
            self.spec.logical_id, len(records), destination.rsplit(":", 1)[-1], condition,
        )  # fmt: skip
        message = self._on_failure_record(shard, records, condition, invocations, last)
        try:
            service, _, account, resource = _arn_parts(destination)
            if service == "sqs":
                self._send_to_queue(destination, account, resource, message)
            elif service == "sns" and self._sns_factory is not None:
                self._sns_factory().publish(TopicArn=destination, Message=json.dumps(message))
            else:
                raise ValueError(f"no client for the on-failure destination {destination}")
        except Exception:  # Lambda too moves on when the destination fails; the batch is lost, as logged
            log.exception("sending the on-failure record to %s failed", destination)
            return
        self._count(dlq_messages=1)

    def _send_to_queue(self, arn: str, account: str, name: str, message: dict[str, Any]) -> None:
        if self._sqs_factory is None:
            raise ValueError(f"no SQS client for the on-failure destination {arn}")
        sqs = self._sqs_factory()
        if arn not in self._queue_urls:
            self._queue_urls[arn] = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.send_message(QueueUrl=self._queue_urls[arn], MessageBody=json.dumps(message))

    def _on_failure_record(
        self, shard: _Shard, records: list[_Record], condition: str, invocations: int, last: _Attempt | None
    ) -> dict[str, Any]:
        """The invocation record Lambda sends for a discarded stream batch: it describes the batch,
        it does not carry it (read the records from the stream by sequence number)."""
        response_context: dict[str, Any] = {}
        if last is not None:
            response_context = {"statusCode": 200, "executedVersion": "$LATEST"}
            if last.function_error:
                response_context["functionError"] = "Unhandled"
        return {
            "requestContext": {
                "requestId": (last.request_id if last else "") or str(uuid.uuid4()),
                "functionArn": self._function_arn(),
                "condition": condition,
                "approximateInvokeCount": invocations,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": records[0].sequence_number,
                "endSequenceNumber": records[-1].sequence_number,
                "approximateArrivalOfFirstRecord": _iso_seconds(records[0].created),
                "approximateArrivalOfLastRecord": _iso_seconds(records[-1].created),
                "batchSize": len(records),
                "streamArn": self.spec.stream_arn,
            },
        }

    def _function_arn(self) -> str:
        name = self.spec.function_name
        if name.startswith("arn:"):
            return name
        _, region, account, _ = _arn_parts(self.spec.stream_arn)
        return f"arn:aws:lambda:{region}:{account}:function:{name}"

    def _count(self, **increments: int) -> None:
        with self._idle:
            for name, value in increments.items():
                setattr(self._counters, name, getattr(self._counters, name) + value)


def _first_failed(part: list[_Record], response: Any) -> int | None:
    """ReportBatchItemFailures, as Lambda reads the response: the index of the lowest failed sequence
    number; None for a complete success (no response, batchItemFailures missing, null or empty); 0,
    the whole batch, for a response it cannot use (not an object, an identifier missing or unknown)."""
    if response is None:
        return None
    if not isinstance(response, dict):
        return 0
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return None
    if not isinstance(failures, list):
        return 0
    positions = {record.sequence_number: index for index, record in enumerate(part)}
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return 0
        indexes.append(positions[identifier])
    return min(indexes)


def _lambda_record(raw: dict[str, Any], stream_arn: str) -> _Record:
    """A GetRecords record -> the record of a Lambda event: `eventSourceARN` added, the creation time
    in epoch seconds (rounded down, as DynamoDB Streams documents it), binary values in base64."""
    created = raw["dynamodb"].get("ApproximateCreationDateTime")
    data = _jsonable(raw)
    data["eventSourceARN"] = stream_arn
    created_epoch = created.timestamp() if isinstance(created, datetime) else float(created or time.time())
    return _Record(data, raw["dynamodb"]["SequenceNumber"], created_epoch)


def _jsonable(value: Any) -> Any:
    """boto3 decodes B and BS attribute values to bytes; the Lambda event carries them in base64."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


def _arn_parts(arn: str) -> tuple[str, str, str, str]:
    """arn:partition:service:region:account:resource -> (service, region, account, resource)."""
    parts = arn.split(":", 5)
    return parts[2], parts[3], parts[4], parts[5]


def _iso_seconds(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
