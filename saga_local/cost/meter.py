"""What AWS would bill, counted from the real calls of a local run (not estimated by hand).

    meter = Meter.for_stack(local)      # a started saga_local.stack.LocalAws, in this process
    before = meter.snapshot()
    ...place one order, wait until the stack is quiet...
    usage = Meter.delta(before, meter.snapshot())   # {"dynamodb.OrdersTable.wcu": 2.0, ...}
    meter.close()

Sources, one per thing AWS bills:
- DynamoDB read and write units, per table, from every call moto serves (saga_local.core.aws_calls): item sizes
  as DynamoDB counts them (attribute names + values), 1 WCU per KB of the larger of the item before and
  after a write, 0.5 (eventual) or 1 (strong) RCU per 4 KB read, twice that in transactions, a failed
  condition still billed; a global secondary index's writes (an item entering, leaving or changing in it) apart,
  as `dynamodb.<Table>/<Index>.wcu`. An interceptor reads the item before the write from moto's backend.
- Lambda invocations and billed duration, from the REPORT lines the local runtime writes, at each
  function's configured memory; CloudWatch Logs bytes from the same log files, filtered as the
  function's LoggingConfig would filter them.
- Step Functions Express: StartSyncExecution requests and their billingDetails; state transitions and the
  bytes the state machine's log level would log, from the execution's history.
- API Gateway requests and access-log bytes (the template's Format, rendered for each request).
- SNS publishes (64 KB chunks); SNS->SQS deliveries (messages that landed in a queue, and the SQS requests
  they are billed as: one per 64 KB chunk of the message); SQS calls served, per owner
  (units.sqs_request_owner: a consumer's receive and delete apart from the application's own requests).
- X-Ray traces: distinct trace ids the stack recorded (the caller applies the sampling rate).
Stream reads (GetRecords by a Lambda event source mapping) are free on AWS and not counted.
"""

import contextlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saga_local.cloudformation import template
from saga_local.core import aws_calls
from saga_local.cost.units import (
    LEVELS,
    WRITE_UNIT_BYTES,
    IndexShape,
    LoggingConfig,
    chunked_requests,
    classify,
    gb_seconds,
    index_write_sizes,
    item_size,
    read_units,
    render_access_log,
    shipped_bytes,
    sqs_request_owner,
    write_units,
)
from saga_local.stepfunctions.sync_execution import add_finished_listener

_BILLED = re.compile(r"Billed Duration: (\d+) ms")  # in a REPORT line
SIMULATOR_KEY_PREFIX = "SIMULATOR#"  # functions/payments/payments/simulator.py: the provider's items
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
        """A meter on a started saga_local.stack.LocalAws running in this process."""
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
        meter = cls(tables, functions, local.settings.log_dir, access_format, machine_logging)
        meter.install()
        return meter

    def install(self) -> None:
        self._closers.append(aws_calls.add_interceptor(self._before_call))
        self._closers.append(aws_calls.add_listener(self._after_call))
        self._closers.append(self._watch_executions())
        access = logging.getLogger("saga_local.apigateway.access")
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
        def count(execution: Any) -> None:
            try:
                self._count_history(execution)
            except Exception:  # accounting must never break an execution; the miss is logged
                logging.getLogger(__name__).exception("accounting: execution history not counted")

        return add_finished_listener(count)

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
                details or None, include_data,  # type: ignore[arg-type]  # a plain dict, as moto passes it
            )  # fmt: skip
            self.add("logs.StateMachine.shipped_bytes", len(to_json_str(log).encode("utf-8")))

    # -- SNS -> SQS deliveries: the messages that landed in queues (SNS hands them to moto's SQS backend
    # directly, not through a call the listener sees). A gauge: a consumer deleting messages would lower it,
    # and the stack runs none.
    def _count_deliveries(self) -> None:
        from moto.sqs.models import sqs_backends

        landed = chunks = 0
        for account in list(sqs_backends.keys()):
            for region in sqs_backends[account].regions:
                for queue in list(sqs_backends[account][region].queues.values()):
                    for message in list(queue._messages):
                        landed += 1
                        chunks += chunked_requests(len(str(message.body).encode("utf-8")))
        with self._lock:
            self.counts["sqs.messages_in_queues"] = landed
            self.counts["sqs.delivery_requests"] = chunks

    # -- every AWS call moto serves
    def _before_call(self, call: aws_calls.AwsCall) -> None:
        """Interceptor that never answers: it keeps the items a write is about to change, as stored."""
        if call.service != "dynamodb" or call.operation not in _WRITES:
            return None
        with contextlib.suppress(Exception):
            body = _request(call)
            call.handler._accounting_before = [self._stored_item(call, t, k) for t, k, _ in _written_items(call, body)]
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

    def _owner(self, table: str, key: Mapping[str, Any] | None) -> str:
        """`dynamodb.<Table>`, or `provider.simulator` for the payment simulator's own records: it stands in
        for an external provider (billed per charge, not in this account's DynamoDB), so its units are apart."""
        pk = ((key or {}).get("pk") or {}).get("S", "")
        return "provider.simulator" if str(pk).startswith(SIMULATOR_KEY_PREFIX) else f"dynamodb.{self._table(table)}"

    def _stored_item(self, call: aws_calls.AwsCall, table: str, key: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The item stored under `key` now (None if none), in DynamoDB's JSON, read from moto's backend."""
        if key is None:
            return None
        from moto.dynamodb.models import dynamodb_backends

        item = dynamodb_backends[call.account_id][call.region].get_item(table, dict(key))
        return item.to_json()["Attributes"] if item is not None else None

    def _stored_size(self, call: aws_calls.AwsCall, table: str, key: Mapping[str, Any] | None) -> int:
        return item_size(self._stored_item(call, table, key))

    def _indexes(self, call: aws_calls.AwsCall, table_name: str) -> list[IndexShape]:
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[call.account_id][call.region].get_table(table_name)
        table_keys = tuple(n for n in (table.hash_key_attr, table.range_key_attr) if n)
        return [
            IndexShape(
                index.name,
                tuple(index.schema_key_attrs),
                table_keys,
                (index.projection or {}).get("ProjectionType", "ALL"),
                tuple((index.projection or {}).get("NonKeyAttributes", [])),
            )
            for index in table.global_indexes
        ]

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
            for position, (table, key, kind) in enumerate(_written_items(call, body)):
                old_item = before[position] if position < len(before) else None
                new_item = None if error or kind in ("delete", "check") else self._stored_item(call, table, key)
                size = max(item_size(old_item), item_size(new_item))
                units = write_units(size, transactional=transactional)
                owner = self._owner(table, key)
                if not error and kind != "check":  # a refused write changes no index
                    for index in self._indexes(call, table):
                        for entry_size in index_write_sizes(index, old_item, new_item):
                            self.add(f"{owner}/{index.name}.wcu", write_units(entry_size))
                            self.add(f"{owner}/{index.name}.writes", 1)
                self.add(f"{owner}.wcu", units)
                self.add(f"{owner}.writes", 1)
                if transactional:
                    self.add(f"{owner}.transact_wcu", units)
                if size > WRITE_UNIT_BYTES:
                    self.add(f"{owner}.writes_over_1kb", 1)
                    self.add(f"{owner}.wcu_over_1kb", units - write_units(0, transactional=transactional))
            return
        if operation in ("GetItem", "TransactGetItems", "BatchGetItem"):
            for table, key, consistent in _read_items(operation, body):
                units = read_units(self._stored_size(call, table, key), consistent=consistent,
                                   transactional=operation == "TransactGetItems")  # fmt: skip
                self.add(f"{self._owner(table, key)}.rcu", units)
                self.add(f"{self._owner(table, key)}.reads", 1)
            return
        if operation in ("Query", "Scan"):
            table = body["TableName"]
            # Billed on the full items read (a ProjectionExpression does not reduce it), summed, then rounded; a
            # global secondary index's Query reads the index's copies.
            queried = next((i for i in self._indexes(call, table) if i.name == body.get("IndexName")), None)
            stored = [
                self._stored_item(call, table, self._key_of(call, table, item)) for item in answer.get("Items", [])
            ]
            read_size = sum(item_size(queried.entry(item) if queried else item) for item in stored)
            self.add(
                f"dynamodb.{self._table(table)}.rcu", read_units(read_size, consistent=bool(body.get("ConsistentRead")))
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
        self.add(f"sqs.{sqs_request_owner(call.operation)}.requests", chunked_requests(size))
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


class _Handler(logging.Handler):
    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink(record.getMessage())
