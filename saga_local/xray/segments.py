"""X-Ray on one machine: trace ids, segments sent the way the X-Ray SDKs send them (UDP to a daemon).

The daemon itself and the trace timeline live in saga_local.xray.daemon; this module is what the
emulated services (API, state machine, Lambda runtime) use to take part in a trace.
"""

import contextlib
import json
import os
import secrets
import socket
import time
from typing import Any

TRACE_HEADER = "X-Amzn-Trace-Id"
DAEMON_ADDRESS_ENV = "AWS_XRAY_DAEMON_ADDRESS"
DEFAULT_DAEMON_ADDRESS = "127.0.0.1:2000"
_HEADER = b'{"format": "json", "version": 1}\n'


def trace_header_of(headers: Any) -> str | None:
    """The request's X-Amzn-Trace-Id, from whichever mapping moto passes (werkzeug's, botocore's, a dict)."""
    if not headers:
        return None
    value = headers.get(TRACE_HEADER)
    if value is None:
        value = next((v for k, v in headers.items() if str(k).lower() == TRACE_HEADER.lower()), None)
    return str(value) if value else None


def new_trace_id() -> str:
    """`1-<8 hex: epoch seconds>-<24 hex random>`, as X-Ray expects."""
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def new_segment_id() -> str:
    return secrets.token_hex(8)


def parse_trace_header(header: str | None) -> dict[str, str]:
    """`Root=1-...;Parent=...;Sampled=1` -> {"Root": ..., "Parent": ..., "Sampled": ...}."""
    fields: dict[str, str] = {}
    for part in (header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key and value:
            fields[key] = value
    return fields


def format_trace_header(root: str, parent: str | None = None, sampled: bool = True) -> str:
    header = f"Root={root}"
    if parent:
        header += f";Parent={parent}"
    return header + f";Sampled={1 if sampled else 0}"


def daemon_address() -> tuple[str, int]:
    host, _, port = os.environ.get(DAEMON_ADDRESS_ENV, DEFAULT_DAEMON_ADDRESS).rpartition(":")
    return host or "127.0.0.1", int(port)


def send_segment(document: dict[str, Any], address: tuple[str, int] | None = None) -> None:
    """Fire and forget, like the SDKs: a lost UDP datagram loses a segment, never a request."""
    payload = _HEADER + json.dumps(document, separators=(",", ":")).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.sendto(payload, address or daemon_address())


def segment(
    *,
    name: str,
    trace_id: str,
    start: float,
    end: float,
    parent_id: str | None = None,
    origin: str | None = None,
    error: bool = False,
    fault: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A segment document (https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html)."""
    document: dict[str, Any] = {"name": name, "id": new_segment_id(), "trace_id": trace_id,
                                "start_time": start, "end_time": end}  # fmt: skip
    if parent_id:
        document["parent_id"] = parent_id
    if origin:
        document["origin"] = origin
    if error:
        document["error"] = True
    if fault:
        document["fault"] = True
    document.update(extra)
    return document
