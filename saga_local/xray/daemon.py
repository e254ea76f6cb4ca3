"""The local stack's X-Ray daemon, and the trace store behind `saga-local trace ORDER_ID`.

X-Ray SDKs (and saga_local.xray) send each finished segment, or a subsegment on its own, as one UDP
datagram: `{"format": "json", "version": 1}`, a newline, the JSON document. The daemon keeps every
document: appended to `<store_path>/segments.jsonl`, so that `trace` can read it from another process
and after the stack stops, and indexed by trace id in memory. It can also forward what it receives to
X-Ray's PutTraceSegments on the local endpoint, so that `aws xray batch-get-traces` works there too.
"""

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

SEGMENTS_FILE = "segments.jsonl"
_MAX_DATAGRAM = 65536  # what fits in one UDP datagram; X-Ray's own daemon has the same limit
_RECEIVE_BUFFER = 4 << 20  # parallel Lambda workers send bursts: a full socket buffer drops datagrams
_FORWARD_INTERVAL_SECONDS = 0.5
_FORWARD_BATCH = 500  # per call to the local endpoint (no API limit there): a busy second fits in one


def parse_datagram(data: bytes) -> dict[str, Any] | None:
    """The document in one datagram, or None for anything that is not the daemon protocol."""
    header, newline, body = data.partition(b"\n")
    try:
        if not newline or json.loads(header).get("format") != "json":
            return None
        document = json.loads(body)
    except (ValueError, AttributeError):  # AttributeError: a header that is JSON but not an object
        return None
    if isinstance(document, dict) and all(isinstance(document.get(key), str) for key in ("trace_id", "id")):
        return document
    return None


# ---------------------------------------------------------------- the store


@dataclass(frozen=True)
class TimelineRow:
    """One segment or subsegment of a trace, as the waterfall shows it."""

    depth: int  # 0 for a root; a child is one deeper than its parent
    name: str
    kind: str  # a segment's origin (AWS::Lambda::Function...), a subsegment's namespace (aws, remote), or ""
    start_ms: float  # from the start of the trace's earliest document
    duration_ms: float | None  # None while in progress
    error: bool = False
    fault: bool = False
    throttle: bool = False
    http_status: int | None = None
    operation: str | None = None  # an AWS call's operation: PutItem, Publish...
    resource: str | None = None  # the table, topic, queue or function it was about
    cause: str | None = None  # the first exception recorded: "OutOfStock: sku-1: 0 available"
    id: str = ""


class TraceStore:
    """Documents by trace id. With a directory, every document added is also appended to its
    segments.jsonl; `load` reads one back (documents sent twice, in progress then finished, count once)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._traces: dict[str, dict[str, dict[str, Any]]] = {}  # trace id -> document id -> document
        self._lock = threading.Lock()
        self._file: IO[str] | None = None

    @classmethod
    def load(cls, directory: Path) -> "TraceStore":
        store = cls(directory)
        path = directory / SEGMENTS_FILE
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                # The last line may be half written by a running daemon.
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    store._index(json.loads(line))
        return store

    def add(self, document: dict[str, Any]) -> None:
        with self._lock:
            if self.directory is not None:
                if self._file is None:
                    self.directory.mkdir(parents=True, exist_ok=True)
                    self._file = (self.directory / SEGMENTS_FILE).open("a", encoding="utf-8")
                self._file.write(json.dumps(document, separators=(",", ":")) + "\n")
                self._file.flush()  # readable at once by `trace` in another process
            self._index(document)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _index(self, document: dict[str, Any]) -> None:
        documents = self._traces.setdefault(document["trace_id"], {})
        if _replaces(document, documents.get(document["id"])):
            documents[document["id"]] = document

    def trace_ids(self) -> list[str]:
        """Every trace, the earliest first."""
        with self._lock:
            traces = {trace_id: list(documents.values()) for trace_id, documents in self._traces.items()}
        return sorted(traces, key=lambda trace_id: min(_start(doc) for doc in traces[trace_id]))

    def documents(self, trace_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._traces.get(trace_id, {}).values())

    def traces_for_annotation(self, key: str, value: Any) -> list[str]:
        """The traces (earliest first) where a segment or subsegment, however deep, has annotations[key] == value."""
        return [
            trace_id
            for trace_id in self.trace_ids()
            if any(
                entity.get("annotations", {}).get(key) == value
                for document in self.documents(trace_id)
                for entity, _ in _walk(document)
            )
        ]

    def timeline(self, trace_id: str) -> list[TimelineRow]:
        """The trace as a tree in depth-first order, siblings by start time. A segment's parent is the
        document (or nested subsegment) its parent_id names, in whatever document that was sent; one whose
        parent was never received (the caller outside the stack) is a root."""
        entities: dict[str, dict[str, Any]] = {}
        parents: dict[str, str | None] = {}
        for document in self.documents(trace_id):
            for entity, parent_id in _walk(document):
                if _replaces(entity, entities.get(entity["id"])):
                    entities[entity["id"]], parents[entity["id"]] = entity, parent_id
        if not entities:
            return []
        children: dict[str | None, list[str]] = {}
        for entity_id, parent_id in parents.items():
            children.setdefault(parent_id if parent_id in entities else None, []).append(entity_id)
        trace_start = min(_start(entity) for entity in entities.values())
        rows: list[TimelineRow] = []

        def visit(parent_id: str | None, depth: int) -> None:
            for entity_id in sorted(children.get(parent_id, []), key=lambda id_: _start(entities[id_])):
                rows.append(_row(entities[entity_id], depth, trace_start))
                visit(entity_id, depth + 1)

        visit(None, 0)
        return rows


def _replaces(entity: dict[str, Any], known: dict[str, Any] | None) -> bool:
    """An SDK may send a long segment in progress first: the finished one replaces it, never the reverse
    (UDP keeps no order)."""
    return known is None or not entity.get("in_progress") or bool(known.get("in_progress"))


def _walk(document: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """The document and every subsegment nested in it, each with its parent's id."""
    pending: list[tuple[dict[str, Any], str | None]] = [(document, document.get("parent_id"))]
    while pending:
        entity, parent_id = pending.pop()
        if not isinstance(entity.get("id"), str):
            continue
        yield entity, parent_id
        pending.extend((sub, entity["id"]) for sub in entity.get("subsegments", []) if isinstance(sub, dict))


def _start(entity: dict[str, Any]) -> float:
    return float(entity.get("start_time") or 0)


# The Python SDK names an AWS call's subsegment after the endpoint prefix ("dynamodb"); X-Ray shows the service.
_AWS_SERVICE_NAMES = {"dynamodb": "DynamoDB", "sns": "SNS", "sqs": "SQS", "lambda": "Lambda", "s3": "S3",
                      "states": "StepFunctions", "events": "EventBridge", "xray": "XRay"}  # fmt: skip
_RESOURCE_KEYS = ("table_name", "topic_arn", "queue_url", "function_name", "bucket_name", "state_machine_arn")


def _row(entity: dict[str, Any], depth: int, trace_start: float) -> TimelineRow:
    aws: dict[str, Any] = entity["aws"] if isinstance(entity.get("aws"), dict) else {}
    resource = next((str(aws[key]) for key in _RESOURCE_KEYS if aws.get(key)), None)
    if resource:  # the name is what identifies it in a waterfall: an ARN's or URL's last part
        resource = resource.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    response = (entity.get("http") or {}).get("response") or {}
    status = response.get("status")
    end = entity.get("end_time")
    name = str(entity.get("name", "?"))
    return TimelineRow(
        depth=depth,
        name=_AWS_SERVICE_NAMES.get(name, name) if entity.get("namespace") == "aws" else name,
        kind=str(entity.get("origin") or entity.get("namespace") or ""),
        start_ms=(_start(entity) - trace_start) * 1000,
        duration_ms=None if end is None or entity.get("in_progress") else (float(end) - _start(entity)) * 1000,
        error=bool(entity.get("error")),
        fault=bool(entity.get("fault")),
        throttle=bool(entity.get("throttle")),
        http_status=int(status) if isinstance(status, int | str) and str(status).isdigit() else None,
        operation=aws.get("operation"),
        resource=resource,
        cause=_first_exception(entity.get("cause")),
        id=entity["id"],
    )


def _first_exception(cause: Any) -> str | None:
    """`cause` is {"exceptions": [{"type", "message"}...]}, or an exception id (the exception is
    recorded on a child): only the former has something to say."""
    if not isinstance(cause, dict):
        return None
    for exception in cause.get("exceptions") or []:
        text = ": ".join(str(exception[key]) for key in ("type", "message") if exception.get(key))
        if text:
            return text
    return None


# ---------------------------------------------------------------- the waterfall


def render_timeline(rows: Sequence[TimelineRow], width: int = 30) -> str:
    """An indented text waterfall: start and duration in ms, a bar on the trace's time scale, then the
    name (indented by depth), its origin, AWS operation and resource, HTTP status, flags and first error.
    ASCII only, so that any terminal (and a CI log) shows it."""
    if not rows:
        return "(no segments)"
    total = max(row.start_ms + (row.duration_ms or 0) for row in rows) or 1.0
    names = ["  " * row.depth + row.name for row in rows]
    name_width = min(max(len(name) for name in names), 48)
    lines = [f"{'START':>8} {'DURATION':>9}  {'':<{width + 2}}  NAME"]
    for row, name in zip(rows, names, strict=True):
        duration = "running" if row.duration_ms is None else _ms(row.duration_ms)
        details = "  ".join(_details(row))
        line = f"{_ms(row.start_ms):>8} {duration:>9}  |{_bar(row, total, width)}|  {name:<{name_width}}  {details}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value:.1f}ms" if value < 10 else f"{value:.0f}ms"


def _bar(row: TimelineRow, total: float, width: int) -> str:
    first = min(int(row.start_ms / total * width), width - 1)
    if row.duration_ms is None:  # in progress: from its start to the edge
        return " " * first + "-" * (width - first)
    last = max(first + 1, min(round((row.start_ms + row.duration_ms) / total * width), width))
    return " " * first + "=" * (last - first) + " " * (width - last)


def _details(row: TimelineRow) -> Iterator[str]:
    if row.kind.startswith("AWS::"):  # an origin says what the segment is; a namespace ("aws") adds little
        yield f"[{row.kind}]"
    call = " ".join(part for part in (row.operation, row.resource) if part)
    if call:
        yield call
    if row.http_status is not None:
        yield f"HTTP {row.http_status}"
    yield from (flag for flag, on in (("FAULT", row.fault), ("ERROR", row.error), ("THROTTLE", row.throttle)) if on)
    if row.cause:
        yield row.cause if len(row.cause) <= 100 else row.cause[:99] + "~"


# ---------------------------------------------------------------- the daemon


class SegmentSink(Protocol):
    """What forwarding needs of a boto3 X-Ray client."""

    def put_trace_segments(self, *, TraceSegmentDocuments: list[str]) -> Any: ...  # noqa: N803 - boto3's name


class XRayDaemon:
    """A UDP server thread doing what the X-Ray daemon does for SDKs, keeping documents in a TraceStore
    over `store_path` instead of sending them to AWS. `forward_to` (a boto3 X-Ray client on the local
    endpoint) also gets every finished document, best effort, from a thread of its own.

        daemon = XRayDaemon(port=0, store_path=Path(".local/traces")).start()   # port 0: any free port
        os.environ["AWS_XRAY_DAEMON_ADDRESS"] = f"{daemon.host}:{daemon.port}"
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 2000, *, store_path: Path, forward_to: SegmentSink | None = None
    ) -> None:
        self.host, self.port = host, port
        self.store = TraceStore.load(store_path)
        self.received = 0  # documents stored since start
        self.dropped = 0  # datagrams that were not the daemon protocol
        self.forward_errors = 0
        self._forward_to = forward_to
        self._forward_queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._socket: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._received = threading.Condition()
        self._stopping = threading.Event()

    def start(self) -> "XRayDaemon":
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):  # the kernel may cap it: a smaller buffer still works
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
        self._socket.bind((self.host, self.port))
        self.port = self._socket.getsockname()[1]
        self._socket.settimeout(0.2)  # how long stop() may wait for the receiving thread
        self._threads.append(threading.Thread(target=self._receive, name="xray-daemon", daemon=True))
        if self._forward_to is not None:
            self._threads.append(threading.Thread(target=self._forward, name="xray-forward", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._forward_queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self.store.close()

    def wait_for(self, count: int, timeout: float = 2.0) -> bool:
        """Whether `count` documents have been received (since start) within `timeout` seconds."""
        with self._received:
            return self._received.wait_for(lambda: self.received >= count, timeout)

    def _receive(self) -> None:
        assert self._socket is not None
        while not self._stopping.is_set():
            try:
                data = self._socket.recv(_MAX_DATAGRAM)
            except TimeoutError:
                continue
            document = parse_datagram(data)
            if document is None:
                self.dropped += 1
                continue
            self.store.add(document)
            if self._forward_to is not None and not document.get("in_progress"):
                self._forward_queue.put(document)  # only finished documents: X-Ray's API would keep both
            with self._received:
                self.received += 1
                self._received.notify_all()

    def _forward(self) -> None:
        assert self._forward_to is not None
        while (document := self._forward_queue.get()) is not None:
            batch = [document]
            # A request's segments arrive over a few hundred ms: one call for all of them costs a tenth of
            # a call each. stop() does not wait for this: it only reaches the queue after the batch is sent.
            time.sleep(_FORWARD_INTERVAL_SECONDS)
            with contextlib.suppress(queue.Empty):
                while len(batch) < _FORWARD_BATCH and (document := self._forward_queue.get_nowait()) is not None:
                    batch.append(document)
            try:
                self._forward_to.put_trace_segments(TraceSegmentDocuments=[json.dumps(doc) for doc in batch])
            except Exception:  # best effort: the store has it; the endpoint may be stopping
                self.forward_errors += 1
            if document is None:  # stop() came in the middle of a batch
                return
