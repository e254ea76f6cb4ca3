"""The arithmetic of AWS billing units: DynamoDB item sizes and capacity units, 64 KB request chunks,
GB-seconds, and the bytes a log group receives (Lambda's LoggingConfig, API Gateway's access log Format)."""

import contextlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

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


@dataclass(frozen=True)
class IndexShape:
    """A global secondary index as its writes are billed: which attributes put an item in it, which it keeps."""

    name: str
    keys: tuple[str, ...]  # the index's own key attributes: an item lacking one is not in the index (sparse)
    table_keys: tuple[str, ...]
    projection: str = "ALL"  # ALL, KEYS_ONLY or INCLUDE
    included: tuple[str, ...] = ()

    def entry(self, item: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any] | None:
        """The index's copy of `item`, or None when the item is not in the index."""
        if item is None or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        kept = {*self.table_keys, *self.keys, *(self.included if self.projection == "INCLUDE" else ())}
        return {name: value for name, value in item.items() if name in kept}


def index_write_sizes(
    index: IndexShape, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[int]:
    """The sizes of the writes a table write makes in `index` (DynamoDB Developer Guide, "Provisioned throughput
    considerations for Global Secondary Indexes"): an item entering or leaving it is one write, a change of an
    index key value two (delete, then put), a change of projected attributes alone one, anything else none."""
    old, new = index.entry(before), index.entry(after)
    if old is None and new is None:
        return []
    if old is None or new is None:
        return [item_size(new if old is None else old)]
    if any(old[key] != new[key] for key in index.keys):
        return [item_size(old), item_size(new)]
    return [item_size(new)] if old != new else []


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """Read units for reading `size` bytes in one request unit (an item, or a whole Query/Scan page):
    per 4 KB started (at least one), 0.5 eventually consistent, 1 strongly, 2 in a transaction."""
    chunks = max(1, math.ceil(size / READ_UNIT_BYTES))
    per_chunk = 2.0 if transactional else 1.0 if consistent else 0.5
    return chunks * per_chunk


def chunked_requests(payload_bytes: int) -> int:
    """SNS and SQS: one billed request per 64 KB chunk of payload (at least one)."""
    return max(1, math.ceil(payload_bytes / CHUNK_BYTES))


# The SQS requests a queue's reader makes: receiving, deleting, hiding a message again. They are the
# consumer's, not the producer's: the audit queue's consumer is an example this application does not ship.
SQS_CONSUMER_OPERATIONS = frozenset(
    {"ReceiveMessage", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"}
)


def sqs_request_owner(operation: str) -> str:
    """Whose bill an SQS request is on, per order: "consumer" for a reader's receive, delete or visibility
    change; "application" for anything else (a send by one of its producers, a queue lookup)."""
    return "consumer" if operation in SQS_CONSUMER_OPERATIONS else "application"


def gb_seconds(billed_ms: float, memory_mb: float) -> float:
    """Lambda and Express duration: billed milliseconds at the billed memory, in GB-seconds."""
    return billed_ms / 1000 * memory_mb / 1024


# ---------------------------------------------------------------- CloudWatch Logs: what a log group gets

LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40, "FATAL": 50, "CRITICAL": 50}
SYSTEM_PREFIXES = ("START RequestId:", "END RequestId:", "REPORT RequestId:", "INIT_START ", "INIT_REPORT ")
_TEXT_LEVEL = re.compile(r"^\[(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)\]")
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
