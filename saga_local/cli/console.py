"""What `saga-local up` shows a person, and where everything else goes.

The terminal gets the start banner, one line per API request (time, method, path, status, duration, order id,
caller) and one line per notable event of the emulators (a schedule run that did something, a stream batch that
failed, records sent to an on-failure destination): the loggers `saga_local.events` and the API's access log.
Everything else (moto's and its interpreter's loggers, werkzeug, handled errors' tracebacks, warnings, whatever
is written to stderr) goes to the log file, `.local/logs/stack.log`, and so do the terminal's lines.
"""

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, TextIO

ACCESS_LOGGER = "saga_local.apigateway.access"  # one JSON record per request (saga_local.apigateway.server)
EVENTS_LOGGER = "saga_local.events"  # the emulators' notable events, one line each
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def clock(seconds: float | None = None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(seconds))


def request_line(record: dict[str, Any]) -> str:
    """`12:01:02 POST /v1/orders 201 84ms ord_... storefront` from an access log record."""
    parts = [
        clock(record.get("epoch")),
        str(record.get("method", "?")),
        str(record.get("path", "?")),
        str(record.get("status", "?")),
        f"{record.get('latencyMs', '?')}ms",
    ]
    if record.get("orderId") and str(record["orderId"]) not in str(record.get("path", "")):
        parts.append(str(record["orderId"]))
    if record.get("caller"):
        parts.append(caller_name(str(record["caller"])))
    return " ".join(parts)


def caller_name(arn: str) -> str:
    """A principal's short name: `storefront` for `...:user/storefront`, `fulfilment` for
    `...:assumed-role/fulfilment/fulfilment-local`."""
    resource = arn.split(":", 5)[-1]
    if resource.startswith("assumed-role/"):
        return resource.split("/")[1]
    return resource.rsplit("/", 1)[-1]


class _RequestLines(logging.Handler):
    def __init__(self, stream: TextIO) -> None:
        super().__init__(logging.INFO)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = json.loads(record.getMessage())
            fields.setdefault("epoch", record.created)
            line = request_line(fields)
        except (ValueError, TypeError, AttributeError):
            line = f"{clock(record.created)} {record.getMessage()}"
        self._write(line)

    def _write(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the log file still has everything
            pass


class _EventLines(_RequestLines):
    def emit(self, record: logging.LogRecord) -> None:
        self._write(f"{clock(record.created)} {record.getMessage()}")


def route_output(log_file: Path, terminal: TextIO | None = None) -> TextIO:
    """Send every logger and stderr to `log_file`; request and event lines to `terminal` (stdout) as well.
    Returns the terminal stream, for the lines `up` prints itself."""
    terminal = terminal or sys.stdout
    log_file.parent.mkdir(parents=True, exist_ok=True)
    stream = open(log_file, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the process's life
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    file_handler = logging.StreamHandler(stream)
    file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(file_handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    # Noisy and of no use to a reader of the log either: a line per AWS call, the translator's feature toggles.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    logging.getLogger(ACCESS_LOGGER).addHandler(_RequestLines(terminal))
    logging.getLogger(EVENTS_LOGGER).addHandler(_EventLines(terminal))
    sys.stderr = stream  # tracebacks of threads, and anything else printed to stderr
    return terminal
