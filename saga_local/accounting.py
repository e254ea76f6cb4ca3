"""What AWS would bill, counted from the real calls of a local run (not estimated by hand).

    meter = Meter.for_stack(local)      # a started saga_local.stack.LocalStack, in this process
    before = meter.snapshot()
    ...place one order, wait until the stack is quiet...
    usage = Meter.delta(before, meter.snapshot())   # {"dynamodb.OrdersTable.wcu": 2.0, ...}
    meter.close()

Sources, one per thing AWS bills:
- DynamoDB read and write units, per table, from every call moto serves (saga_local.aws_calls): item sizes
  as DynamoDB counts them (attribute names + values), 1 WCU per KB of the larger of the item before and
  after a write, 0.5 (eventual) or 1 (strong) RCU per 4 KB read, twice that in transactions, a failed
  condition still billed. An interceptor reads the item before the write from moto's backend.
- Lambda invocations and billed duration, from the REPORT lines the local runtime writes, at each
  function's configured memory; CloudWatch Logs bytes from the same log files, filtered as the
  function's LoggingConfig would filter them.
- Step Functions Express: StartSyncExecution requests and their billingDetails; state transitions and the
  bytes the state machine's log level would log, from the execution's history.
- API Gateway requests and access-log bytes (the template's Format, rendered for each request).
- SNS publishes (64 KB chunks), SQS requests (64 KB chunks), SNS->SQS deliveries (messages that landed).
- X-Ray traces: distinct trace ids the stack recorded (the caller applies the sampling rate).
Stream reads (GetRecords by a Lambda event source mapping) are free on AWS and not counted.
"""

import contextlib
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from saga_local import aws_calls, template

KB = 1024
WRITE_UNIT_BYTES = 1 * KB
READ_UNIT_BYTES = 4 * KB
CHUNK_BYTES = 64 * KB  # SNS and SQS bill one request per 64 KB chunk of payload

# ---------------------------------------------------------------- DynamoDB item sizes and capacity units


def number_size(text: str) -> int:
    """DynamoDB's size of a number value: 1 byte per two significant digits, plus 1 (leading and
    trailing zeros trimmed; the docs call it approximate). Raises ValueError for a non-number."""
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation as error:
        raise ValueError(f"not a DynamoDB number: {text!r}") from error
    significant = "".join(map(str, digits)).strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The size of one attribute value in DynamoDB's JSON wire format ({"S": "x"}, {"M": {...}}...),
    without its name."""
    if len(value) != 1:
        raise ValueError(f"an attribute value has exactly one type: {value!r}")
    kind, data = next(iter(value.items()))
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return len(_raw_bytes(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in data)
    if kind == "NS":
        return sum(number_size(n) for n in data)
    if kind == "BS":
        return sum(len(_raw_bytes(b)) for b in data)
    if kind == "L":  # 3 bytes for the list, 1 per element
        return 3 + sum(1 + value_size(element) for element in data)
    if kind == "M":  # 3 bytes for the map, 1 per element, whose name counts too
        return 3 + sum(1 + len(name.encode("utf-8")) + value_size(element) for name, element in data.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def _raw_bytes(data: str | bytes) -> bytes:
    import base64

    return data if isinstance(data, bytes) else base64.b64decode(data)


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """An item's size as DynamoDB bills it: the sum of its attribute names and values (0 for no item)."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in (item or {}).items())


def write_units(size: int, *, transactional: bool = False) -> float:
    """Write units for one item write: 1 per KB started (at least 1), twice that in a transaction."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return float(units * (2 if transactional else 1))


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """Read units for reading `size` bytes in one request unit (an item, or a whole Query/Scan page):
    per 4 KB started (at least one), 0.5 eventually consistent, 1 strongly, 2 in a transaction."""
    chunks = max(1, math.ceil(size / READ_UNIT_BYTES))
    per_chunk = 2.0 if transactional else 1.0 if consistent else 0.5
    return chunks * per_chunk


def chunked_requests(payload_bytes: int) -> int:
    """SNS and SQS: one billed request per 64 KB chunk of payload (at least one)."""
    return max(1, math.ceil(payload_bytes / CHUNK_BYTES))


def gb_seconds(billed_ms: float, memory_mb: float) -> float:
    """Lambda and Express duration: billed milliseconds at the billed memory, in GB-seconds."""
    return billed_ms / 1000 * memory_mb / 1024


# ---------------------------------------------------------------- CloudWatch Logs: what a log group gets

LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40, "FATAL": 50, "CRITICAL": 50}
SYSTEM_PREFIXES = ("START RequestId:", "END RequestId:", "REPORT RequestId:", "INIT_START ", "INIT_REPORT ")
_TEXT_LEVEL = re.compile(r"^\[(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)\]")
_BILLED = re.compile(r"Billed Duration: (\d+) ms")
# What Lambda's JSON log format adds around a line that is not JSON (timestamp, level, requestId).
_JSON_WRAPPER = len(
    '{"timestamp":"2025-01-01T00:00:00.000Z","level":"INFO","message":"",'
    '"requestId":"00000000-0000-0000-0000-000000000000"}'
)


@dataclass(frozen=True)
class LoggingConfig:
    """A function's LoggingConfig (Lambda's advanced logging controls); Text with no filter by default."""

    log_format: str = "Text"
    application_level: str = "INFO"
    system_level: str = "INFO"

    @classmethod
    def of(cls, properties: Mapping[str, Any] | None) -> "LoggingConfig":
        props = properties or {}
        log_format = str(props.get("LogFormat", "Text"))
        if log_format not in ("Text", "JSON"):
            raise ValueError(f"LoggingConfig.LogFormat must be Text or JSON, not {log_format!r}")
        levels = {}
        for key in ("ApplicationLogLevel", "SystemLogLevel"):
            level = str(props.get(key, "INFO")).upper()
            if level not in LEVELS:
                raise ValueError(f"LoggingConfig.{key}: unknown level {level!r}")
            levels[key] = level
        return cls(log_format, levels["ApplicationLogLevel"], levels["SystemLogLevel"])


@dataclass(frozen=True)
class LogLine:
    kind: str  # "system", "emf" (metrics), "app" (a log record with a level), "other" (print, tracebacks)
    level: int  # Lambda's level for it: INFO when the line names none
    size: int  # UTF-8 bytes


def classify(line: str) -> LogLine | None:
    """What one line of a function's output is, for Lambda's filters. None: a local-only line."""
    size = len(line.encode("utf-8"))
    if line.startswith("FAULT RequestId:"):  # the local fault injector's note: not on AWS
        return None
    if line.startswith(SYSTEM_PREFIXES):
        return LogLine("system", LEVELS["INFO"], size)
    if "Task timed out after" in line:
        return LogLine("system", LEVELS["ERROR"], size)
    if line.startswith("{"):
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                if "_aws" in record:
                    return LogLine("emf", LEVELS["INFO"], size)  # EMF carries no level: Lambda takes it as INFO
                level = str(record.get("level", "INFO")).upper()
                return LogLine("app", LEVELS.get(level, LEVELS["INFO"]), size)
    match = _TEXT_LEVEL.match(line)
    if match:
        return LogLine("app", LEVELS[match.group(1)], size)
    return LogLine("other", LEVELS["INFO"], size)


def shipped_bytes(line: LogLine, config: LoggingConfig) -> int:
    """The bytes CloudWatch Logs ingests for `line` under `config`: everything in Text format; in JSON
    format, lines under the system or application level are dropped and non-JSON lines are wrapped.
    (JSON platform records are counted at the size of their text form.)"""
    if config.log_format == "Text":
        return line.size
    threshold = LEVELS[config.system_level if line.kind == "system" else config.application_level]
    if line.level < threshold:
        return 0
    return line.size + (_JSON_WRAPPER if line.kind == "other" else 0)


def render_access_log(log_format: str, record: Mapping[str, Any]) -> str:
    """API Gateway's access log line: the stage's Format with its $context variables filled from the
    emulator's record of the request ("-" for a value it does not have, as API Gateway writes)."""
    values = {
        "requestId": record.get("requestId"),
        "identity.sourceIp": record.get("ip"),
        "httpMethod": record.get("method"),
        "resourcePath": record.get("resourcePath"),
        "path": record.get("path"),
        "status": record.get("status"),
        "responseLatency": record.get("latencyMs"),
        "integrationLatency": record.get("integrationLatencyMs"),
        "integrationStatus": record.get("integrationStatus"),
        "xrayTraceId": record.get("traceId"),
        "identity.apiKeyId": record.get("apiKeyId"),
        "error.message": record.get("error"),
        "requestTime": record.get("requestTime"),
        "responseLength": record.get("responseLength"),
    }

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return "-" if value is None else str(value)

    return re.sub(r"\$context\.([A-Za-z0-9_.]+)", fill, log_format)


# ---------------------------------------------------------------- the meter


@dataclass(frozen=True)
class FunctionInfo:
    logical_id: str
    memory_mb: int
    architecture: str  # arm64 or x86_64
    logging: LoggingConfig


@dataclass
class Meter:
    """Counters of billable usage, fed by the running stack. Keys are "<service>.<resource>.<what>"."""

    tables: dict[str, str]  # physical table name -> logical id
    functions: dict[str, FunctionInfo]  # physical function name -> what it is
    log_dir: Path
    access_log_format: str | None = None
    state_machine_logging: tuple[str, bool] = ("OFF", False)  # level, IncludeExecutionData
    counts: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _offsets: dict[Path, int] = field(default_factory=dict)
    _traces: set[str] = field(default_factory=set)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    # -- setting up
    @classmethod
    def for_stack(cls, local: Any, template_path: Path = template.TEMPLATE_PATH) -> "Meter":
        """A meter on a started saga_local.stack.LocalStack running in this process."""
        doc = template.load(template_path)
        stack = local.stack
        refs = stack.refs
        tables = {str(refs[name]): name for name in template.resources_of_type(doc, "AWS::DynamoDB::Table")}
        globals_ = doc.get("Globals", {}).get("Function", {})
        functions = {}
        for spec in stack.functions:
            props = doc["Resources"][spec.logical_id]["Properties"]
            logging_props = {**globals_.get("LoggingConfig", {}), **props.get("LoggingConfig", {})}
            architecture = (props.get("Architectures") or globals_.get("Architectures") or ["x86_64"])[0]
            functions[spec.name] = FunctionInfo(
                spec.logical_id, spec.memory_mb, architecture, LoggingConfig.of(logging_props)
            )
        access_format = None
        for api in template.resources_of_type(doc, "AWS::Serverless::Api").values():
            access_format = api["Properties"].get("AccessLogSetting", {}).get("Format", access_format)
        machine_logging = ("OFF", False)
        for machine in template.resources_of_type(doc, "AWS::Serverless::StateMachine").values():
            settings = machine["Properties"].get("Logging", {})
            machine_logging = (str(settings.get("Level", "OFF")), bool(settings.get("IncludeExecutionData", False)))
        meter = cls(tables, functions, local.settings.local_dir / "logs", access_format, machine_logging)
        meter.install()
        return meter

    def install(self) -> None:
        self._closers.append(aws_calls.add_interceptor(self._before_call))
        self._closers.append(aws_calls.add_listener(self._after_call))
        self._closers.append(self._watch_executions())
        access = logging.getLogger("saga_local.apigw.access")
        handler = _Handler(self._on_access_log)
        access.addHandler(handler)
        if access.getEffectiveLevel() > logging.INFO:
            access.setLevel(logging.INFO)
        self._closers.append(lambda: access.removeHandler(handler))
        self.read_logs()  # what was logged before now is not counted

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()

    def add(self, key: str, amount: float) -> None:
        with self._lock:
            self.counts[key] = self.counts.get(key, 0.0) + amount

    # -- reading the counters
    def snapshot(self) -> dict[str, float]:
        self.read_logs()
        self._count_deliveries()
        with self._lock:
            return dict(self.counts)

    @staticmethod
    def delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
        keys = set(before) | set(after)
        return {
            k: after.get(k, 0.0) - before.get(k, 0.0) for k in sorted(keys) if after.get(k, 0.0) != before.get(k, 0.0)
        }

    # -- Lambda: REPORT lines and log bytes
    def read_logs(self) -> None:
        for name, info in self.functions.items():
            path = self.log_dir / f"{name}.log"
            if not path.exists():
                continue
            with path.open("rb") as stream:
                stream.seek(self._offsets.get(path, 0))
                data = stream.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next read
            self._offsets[path] = self._offsets.get(path, 0) + len(complete)
            for raw in complete.decode("utf-8", "replace").splitlines():
                self._count_log_line(info, raw)

    def _count_log_line(self, info: FunctionInfo, raw: str) -> None:
        line = classify(raw)
        if line is None:
            return
        prefix = f"lambda.{info.logical_id}"
        if raw.startswith("REPORT RequestId:") and (billed := _BILLED.search(raw)):
            self.add(f"{prefix}.invocations", 1)
            self.add(f"{prefix}.billed_ms", int(billed.group(1)))
            self.add(f"{prefix}.gb_seconds.{info.architecture}", gb_seconds(int(billed.group(1)), info.memory_mb))
        category = line.kind if line.kind != "app" else ("app_info" if line.level <= LEVELS["INFO"] else "app_warn")
        self.add(f"logs.{info.logical_id}.{category}_bytes", line.size)
        self.add(f"logs.{info.logical_id}.shipped_bytes", shipped_bytes(line, info.logging))

    # -- API Gateway
    def _on_access_log(self, message: str) -> None:
        self.add("apigateway.requests", 1)
        if self.access_log_format:
            with contextlib.suppress(ValueError):
                line = render_access_log(self.access_log_format, json.loads(message))
                self.add("logs.ApiAccess.shipped_bytes", len(line.encode("utf-8")))

    # -- Step Functions: transitions and the log level's bytes, from the history
    def _watch_executions(self) -> Callable[[], None]:
        from moto.stepfunctions.parser.backend.execution import SyncExecution

        plain = SyncExecution.start
        meter = self

        def start(execution: Any) -> None:
            plain(execution)
            try:
                meter._count_history(execution)
            except Exception:  # accounting must never break an execution; the miss is logged
                logging.getLogger(__name__).exception("accounting: execution history not counted")

        SyncExecution.start = start  # type: ignore[method-assign,assignment]

        def restore() -> None:
            SyncExecution.start = plain  # type: ignore[method-assign]

        return restore

    def _count_history(self, execution: Any) -> None:
        from moto.stepfunctions.parser.api import HistoryEventType, LogLevel
        from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
        from moto.stepfunctions.parser.asl.eval.event.logging import is_logging_enabled_for
        from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

        events = execution.exec_worker.env.event_manager.get_event_history()
        self.add("stepfunctions.transitions", sum(1 for e in events if str(e["type"]).endswith("StateEntered")))
        level, include_data = self.state_machine_logging
        for event in events:
            event_type = HistoryEventType(event["type"])
            if not is_logging_enabled_for(LogLevel(level), event_type):
                continue
            details = {k: v for k, v in event.items() if k not in ("id", "previousEventId", "type", "timestamp")}
            log = EventManager._create_history_log(
                event["id"], event["previousEventId"], event_type, event["timestamp"], execution.exec_arn,
                details or None, include_data,  # type: ignore[arg-type]
            )  # fmt: skip
            self.add("logs.StateMachine.shipped_bytes", len(to_json_str(log).encode("utf-8")))

    # -- SNS -> SQS deliveries: the messages that landed in queues
    def _count_deliveries(self) -> None:
        from moto.sqs.models import sqs_backends

        landed = 0
        for account in list(sqs_backends.keys()):
            for region in sqs_backends[account].regions:
                backend = sqs_backends[account][region]
                landed += sum(q.approximate_number_of_messages + q.approximate_number_of_messages_not_visible
                              for q in list(backend.queues.values()))  # fmt: skip
        with self._lock:
            self.counts["sqs.messages_in_queues"] = landed

    # -- every AWS call moto serves
    def _before_call(self, call: aws_calls.AwsCall) -> None:
        """Interceptor that never answers: it keeps the sizes of the items a write is about to change."""
        if call.service != "dynamodb" or call.operation not in _WRITES:
            return None
        with contextlib.suppress(Exception):
            body = _request(call)
            call.handler._accounting_before = [self._stored_size(call, t, k) for t, k, _ in _written_items(call, body)]
        return None

    def _after_call(self, call: aws_calls.AwsCall, reply: aws_calls.Reply, _: float) -> None:
        try:
            if call.service == "dynamodb":
                self._dynamodb(call, reply)
            elif call.service == "sns" and call.operation in ("Publish", "PublishBatch"):
                self._sns(call, reply)
            elif call.service == "sqs":
                self._sqs(call, reply)
            elif call.service == "stepfunctions" and call.operation in ("StartSyncExecution", "StartExecution"):
                self._stepfunctions(call, reply)
            elif call.service == "xray" and call.operation in ("PutTraceSegments", "TraceSegments"):
                self._xray(call)
        except Exception:  # a meter must not break the call it watches; the miss is logged
            logging.getLogger(__name__).exception("accounting: %s %s not counted", call.service, call.operation)

    def _table(self, name: str) -> str:
        return self.tables.get(name.rsplit("/", 1)[-1], name)

    def _stored_size(self, call: aws_calls.AwsCall, table: str, key: Mapping[str, Any] | None) -> int:
        """The size of the item stored under `key` now (0 if none), read from moto's backend."""
        if key is None:
            return 0
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends[call.account_id][call.region]
        item = backend.get_item(table, dict(key))
        return item_size(item.to_json()["Attributes"]) if item is not None else 0

    def _dynamodb(self, call: aws_calls.AwsCall, reply: aws_calls.Reply) -> None:
        status, _, body_text = reply
        body = _request(call)
        answer = _json(body_text)
        error = str(answer.get("__type", "")) if status >= 400 else ""
        if error and not error.endswith(("ConditionalCheckFailedException", "TransactionCanceledException")):
            return  # throttled or invalid: not billed
        operation = call.operation
        if operation in _WRITES:
            transactional = operation == "TransactWriteItems"
            before = getattr(call.handler, "_accounting_before", None) or []
            for index, (table, key, kind) in enumerate(_written_items(call, body)):
                old = before[index] if index < len(before) else 0
                new = 0 if error or kind in ("delete", "check") else self._stored_size(call, table, key)
                units = write_units(max(old, new), transactional=transactional)
                name = self._table(table)
                self.add(f"dynamodb.{name}.wcu", units)
                self.add(f"dynamodb.{name}.writes", 1)
                if transactional:
                    self.add(f"dynamodb.{name}.transact_wcu", units)
                if max(old, new) > WRITE_UNIT_BYTES:
                    self.add(f"dynamodb.{name}.writes_over_1kb", 1)
                    self.add(f"dynamodb.{name}.wcu_over_1kb", units - write_units(0, transactional=transactional))
            return
        if operation in ("GetItem", "TransactGetItems", "BatchGetItem"):
            for table, key, consistent in _read_items(operation, body):
                units = read_units(self._stored_size(call, table, key), consistent=consistent,
                                   transactional=operation == "TransactGetItems")  # fmt: skip
                self.add(f"dynamodb.{self._table(table)}.rcu", units)
                self.add(f"dynamodb.{self._table(table)}.reads", 1)
            return
        if operation in ("Query", "Scan"):
            table = body["TableName"]
            # Billed on the full items read (a projection does not reduce it), summed, then rounded.
            keys = [self._key_of(call, table, item) for item in answer.get("Items", [])]
            size = sum(self._stored_size(call, table, key) for key in keys)
            self.add(
                f"dynamodb.{self._table(table)}.rcu", read_units(size, consistent=bool(body.get("ConsistentRead")))
            )
            self.add(f"dynamodb.{self._table(table)}.reads", 1)

    def _key_of(self, call: aws_calls.AwsCall, table_name: str, item: Mapping[str, Any]) -> dict[str, Any]:
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[call.account_id][call.region].get_table(table_name)
        names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
        return {n: item[n] for n in names if n in item}

    def _sns(self, call: aws_calls.AwsCall, reply: aws_calls.Reply) -> None:
        if reply[0] >= 400:
            return
        if call.operation == "Publish":
            sizes = [len(str(call.handler._get_param("Message") or "").encode("utf-8"))]
        else:  # PublishBatch: one request, billed per 64 KB chunk of its whole payload
            sizes = [len(str(call.handler.body or "").encode("utf-8"))]
        for size in sizes:
            self.add("sns.requests", chunked_requests(size))
            self.add("sns.payload_bytes", size)

    def _sqs(self, call: aws_calls.AwsCall, reply: aws_calls.Reply) -> None:
        if reply[0] >= 400:
            return
        size = len(str(call.handler.body or "").encode("utf-8")) if call.operation.startswith("SendMessage") else 0
        self.add("sqs.requests", chunked_requests(size))
        self.add(f"sqs.{call.operation}", 1)

    def _stepfunctions(self, call: aws_calls.AwsCall, reply: aws_calls.Reply) -> None:
        if reply[0] >= 400:
            return
        self.add("stepfunctions.requests", 1)
        billing = _json(reply[2]).get("billingDetails") or {}
        if billing:
            billed_ms, memory_mb = billing["billedDurationInMilliseconds"], billing["billedMemoryUsedInMB"]
            self.add("stepfunctions.billed_ms", billed_ms)
            self.add("stepfunctions.gb_seconds", gb_seconds(billed_ms, memory_mb))

    def _xray(self, call: aws_calls.AwsCall) -> None:
        body = _request(call)
        for document in body.get("TraceSegmentDocuments", []):
            trace_id = _json(document).get("trace_id")
            if trace_id and trace_id not in self._traces:
                self._traces.add(trace_id)
                self.add("xray.traces", 1)


_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def _written_items(call: aws_calls.AwsCall, body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any] | None, str]]:
    """(table, key, kind) for each item a write request touches, in request order."""
    operation = call.operation
    if operation == "PutItem":
        return [(body["TableName"], _put_key(call, body["TableName"], body["Item"]), "put")]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(body["TableName"], body["Key"], "update" if operation == "UpdateItem" else "delete")]
    items: list[tuple[str, dict[str, Any] | None, str]] = []
    if operation == "BatchWriteItem":
        for table, requests in body.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    items.append((table, _put_key(call, table, request["PutRequest"]["Item"]), "put"))
                else:
                    items.append((table, request["DeleteRequest"]["Key"], "delete"))
        return items
    for entry in body.get("TransactItems", []):  # TransactWriteItems
        kind, spec = next(iter(entry.items()))
        if kind == "Put":
            items.append((spec["TableName"], _put_key(call, spec["TableName"], spec["Item"]), "put"))
        else:
            items.append((spec["TableName"], spec["Key"], {"Update": "update", "Delete": "delete"}.get(kind, "check")))
    return items


def _put_key(call: aws_calls.AwsCall, table_name: str, item: Mapping[str, Any]) -> dict[str, Any] | None:
    from moto.dynamodb.models import dynamodb_backends

    with contextlib.suppress(Exception):
        table = dynamodb_backends[call.account_id][call.region].get_table(table_name)
        names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
        return {n: item[n] for n in names}
    return None


def _read_items(operation: str, body: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any], bool]]:
    if operation == "GetItem":
        yield body["TableName"], body["Key"], bool(body.get("ConsistentRead"))
    elif operation == "BatchGetItem":
        for table, request in body.get("RequestItems", {}).items():
            for key in request.get("Keys", []):
                yield table, key, bool(request.get("ConsistentRead"))
    else:  # TransactGetItems: always serializable (billed as transactional)
        for entry in body.get("TransactItems", []):
            spec = entry["Get"]
            yield spec["TableName"], spec["Key"], True


def _request(call: aws_calls.AwsCall) -> dict[str, Any]:
    """The request's parameters: moto hands JSON-protocol bodies over as text or already parsed."""
    body = call.handler.body
    return dict(body) if isinstance(body, dict) else _json(body)


def _json(text: Any) -> dict[str, Any]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str) or not text.startswith("{"):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


class _Handler(logging.Handler):
    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink(record.getMessage())


# ---------------------------------------------------------------- prices

GIB = 1 << 30
REQUIRED_PRICE_FIELDS = ("usd", "per", "unit", "source")


def load_prices(path: Path) -> dict[str, Any]:
    """The dated prices file (benchmarks/prices-us-east-1.json). Raises ValueError naming what is missing."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read prices: {error}") from error
    for top in ("region", "as_of", "prices"):
        if top not in document:
            raise ValueError(f"{path}: missing {top!r}")
    for name, entry in document["prices"].items():
        for key in REQUIRED_PRICE_FIELDS:
            if key not in entry:
                raise ValueError(f"{path}: prices.{name}.{key} is missing")
        if not isinstance(entry["usd"], int | float) or not isinstance(entry["per"], int | float) or entry["per"] <= 0:
            raise ValueError(f"{path}: prices.{name}: usd must be a number and per a positive number")
    return dict(document)


def unit_price(prices: Mapping[str, Any], name: str) -> float:
    """USD for one unit of `name` (the file gives USD per `per` units)."""
    try:
        entry = prices["prices"][name]
    except KeyError as error:
        raise ValueError(f"the prices file has no {name!r}") from error
    return float(entry["usd"]) / float(entry["per"])


def _total(usage: Mapping[str, float], pattern: str) -> float:
    regex = re.compile(pattern)
    return sum(value for key, value in usage.items() if regex.fullmatch(key))


def cost_per_million(
    usage: Mapping[str, float], prices: Mapping[str, Any], *, xray_sampling: float, consumer_requests: float = 2.0
) -> dict[str, float]:
    """USD per million orders, by line item, for one order's `usage` (a Meter delta or a median of them).
    `xray_sampling`: the share of traces recorded. `consumer_requests`: SQS requests the audit queue's consumer
    makes per message (a receive and a delete, unbatched)."""
    p = lambda name: unit_price(prices, name)  # noqa: E731 - a short alias keeps the table below readable
    deliveries = max(0.0, usage.get("sqs.messages_in_queues", 0.0))
    lambda_duration = sum(
        _total(usage, rf"lambda\.[^.]+\.gb_seconds\.{arch}") * p(f"lambda_gb_second_{arch}")
        for arch in ("arm64", "x86_64")
    )
    items = {
        "API Gateway requests": usage.get("apigateway.requests", 0.0) * p("apigateway_rest_request"),
        "Step Functions requests": usage.get("stepfunctions.requests", 0.0) * p("stepfunctions_express_request"),
        "Step Functions duration": usage.get("stepfunctions.gb_seconds", 0.0) * p("stepfunctions_express_gb_second"),
        "Lambda requests": _total(usage, r"lambda\.[^.]+\.invocations") * p("lambda_request"),
        "Lambda duration": lambda_duration,
        "DynamoDB writes": _total(usage, r"dynamodb\.[^.]+\.wcu") * p("dynamodb_on_demand_write_unit"),
        "DynamoDB reads": _total(usage, r"dynamodb\.[^.]+\.rcu") * p("dynamodb_on_demand_read_unit"),
        "SNS publishes": usage.get("sns.requests", 0.0) * p("sns_fifo_publish_request")
        + usage.get("sns.payload_bytes", 0.0) / GIB * p("sns_fifo_publish_gb"),
        "SNS to SQS deliveries": deliveries * p("sns_fifo_delivery"),
        # SNS's SendMessage into the queue, the consumer's receive and delete, and any direct SQS call.
        "SQS requests": (usage.get("sqs.requests", 0.0) + deliveries * (1 + consumer_requests)) * p("sqs_fifo_request"),
        "CloudWatch Logs ingestion": _total(usage, r"logs\.[^.]+\.shipped_bytes")
        / GIB
        * p("cloudwatch_logs_ingestion_gb"),
        "X-Ray traces": usage.get("xray.traces", 0.0) * xray_sampling * p("xray_trace_recorded"),
    }
    return {name: round(value * 1_000_000, 4) for name, value in items.items()}
