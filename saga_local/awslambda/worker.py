"""The inside of one Lambda execution environment, run by saga_local.awslambda.runtime as its own process:

    python -P -u saga_local/awslambda/worker.py <fd>

It imports the handler named by `_HANDLER` (the init phase), then serves one invocation at a time
over the connection on `<fd>`, as the Python runtime interface client serves the Runtime API. Only the
standard library is used: the function's own PYTHONPATH (its code and layers) is all it may import,
so this file cannot import saga_local. stdout and stderr are the function's log; the runtime reads them.

Messages (JSON, one per `send_bytes`):
    worker -> runtime, once:  {"error": <Lambda error> | null}   (the handler is imported: init is over)
    runtime -> worker:        {"requestId", "event" (as JSON text), "deadlineMs", "invokedFunctionArn", "traceHeader",
                               "fault"?: "crash" | "timeout" (saga_local.faults: after the handler ran)}
    worker -> runtime:        {"payload": ...} | {"error": <Lambda error>}, with "durationMs", "maxMemoryMB"
After each answer (the init one too) the worker writes `END_OF_OUTPUT + requestId` on stdout, so the runtime knows it
has read every line the invocation logged.
"""

import decimal
import importlib
import json
import logging
import os
import resource
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

END_OF_OUTPUT = "\x00saga-local-end-of-output "
TRACE_ENV = "_X_AMZN_TRACE_ID"

_request_id = ""  # the invocation in progress, for the root logger's format


class LambdaContext:
    """The context object of the Python runtime (awslambdaric), attribute for attribute."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]  # a string, as in Lambda
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


def _install_root_logger() -> None:
    """The Python runtime's root handler: `[LEVEL] <time> <request id> <message>`, level from
    AWS_LAMBDA_LOG_LEVEL (WARNING, Python's default, when unset)."""
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    if level := os.environ.get("AWS_LAMBDA_LOG_LEVEL"):
        root.setLevel(level.upper())


def _error(message: str, error_type: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": _request_id, "stackTrace": stack or []}


def _exception_error(exc: BaseException) -> dict[str, Any]:
    """What the runtime answers for an exception: the class name unqualified (Step Functions matches
    it), the traceback without this file's own frames."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename != __file__]
    return _error(str(exc), type(exc).__name__, traceback.format_list(frames))


def _log_error(error: dict[str, Any]) -> None:
    """The runtime logs an error as one entry, lines joined by carriage returns."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}", "Traceback (most recent call last):"]
    lines += [line for element in error["stackTrace"] for line in element.splitlines()]
    print("\r".join(lines), flush=True)


def _load_handler(name: str) -> Any:
    """Import the handler as awslambdaric does, with its Runtime.* error types."""
    module_name, _, function_name = name.rpartition(".")
    if not module_name:
        raise _Fault(f"Bad handler '{name}': not enough values to unpack", "Runtime.MalformedHandlerName")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise _Fault(f"Unable to import module '{module_name}': {exc}", "Runtime.ImportModuleError") from exc
    except SyntaxError as exc:
        raise _Fault(f"Syntax error in module '{module_name}': {exc}", "Runtime.UserCodeSyntaxError") from exc
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise _Fault(f"Handler '{function_name}' missing on module '{module_name}'", "Runtime.HandlerNotFound")
    return handler


class _Fault(Exception):
    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _marshal(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):  # the runtime's marshaller accepts Decimal (boto3 numbers)
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _invoke(handler: Any, message: dict[str, Any]) -> dict[str, Any]:
    context = LambdaContext(message["requestId"], message["deadlineMs"], message["invokedFunctionArn"])
    # Lambda sets the trace header per invocation; the X-Ray SDK (Lambda mode) reads it for its facade segment.
    if message.get("traceHeader"):
        os.environ[TRACE_ENV] = message["traceHeader"]
    else:
        os.environ.pop(TRACE_ENV, None)
    try:
        result = handler(json.loads(message["event"]), context)
    except Exception as exc:
        error = _exception_error(exc)
        _log_error(error)
        return {"error": error}
    try:
        return {"payload": json.loads(json.dumps(result, default=_marshal))}
    except (TypeError, ValueError) as exc:
        return {"error": _error(f"Unable to marshal response: {exc}", "Runtime.MarshalError")}


def _injected_fault(message: dict[str, Any]) -> None:
    """A fault saga_local.faults injects after the handler ran, so its side effects exist but its reply
    never leaves: "crash" dies at once (SIGKILL, as an out-of-memory kill), "timeout" outlives the
    deadline until the runtime kills the environment."""
    sys.stdout.flush()
    sys.stderr.flush()
    if message["fault"] == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if message["fault"] == "timeout":
        time.sleep(max(0.0, message["deadlineMs"] / 1000 - time.time()) + 60)


def _peak_memory_mb() -> int:
    """This process's peak resident memory. Not getrusage's ru_maxrss: Linux carries that over from the
    parent across fork and exec, so every worker would report the peak of the process that started it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _answer(conn: Connection, answer: dict[str, Any]) -> None:
    """The answer, then the end-of-output mark after everything printed so far."""
    sys.stdout.flush()
    sys.stderr.flush()
    conn.send_bytes(json.dumps(answer).encode())
    os.write(1, f"{END_OF_OUTPUT}{_request_id}\n".encode())


def _without_editable_installs() -> None:
    """A project installed in the venv in development mode (`pip install -e .`: this repository, saga_local and the
    rest) is no part of a function's package: its import finders are dropped, so a function imports only its code,
    its layers and the venv's third-party packages, as in its deployment package on Lambda."""
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
    sys.path[:] = [entry for entry in sys.path if not entry.startswith("__editable__")]
    importlib.invalidate_caches()


def main() -> None:
    global _request_id
    _without_editable_installs()
    conn = Connection(int(sys.argv[1]))
    os.set_inheritable(conn.fileno(), False)  # a process the handler starts must not hold the channel open
    _install_root_logger()

    try:
        handler = _load_handler(os.environ["_HANDLER"])
        init_error = None
    except _Fault as fault:
        init_error = _error(str(fault), fault.error_type)
    except Exception as exc:  # an exception raised by module-level code: reported under its own name
        init_error = _exception_error(exc)
    if init_error:
        _log_error(init_error)
    _answer(conn, {"error": init_error})
    if init_error:
        return  # Lambda discards an environment whose init failed

    while True:
        try:
            message = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the runtime closed the channel: the environment is shut down
        _request_id = message["requestId"]
        started = time.perf_counter()
        answer = _invoke(handler, message)
        if message.get("fault"):
            _injected_fault(message)
        answer["durationMs"] = (time.perf_counter() - started) * 1000
        answer["maxMemoryMB"] = _peak_memory_mb()
        _answer(conn, answer)
        _request_id = ""


if __name__ == "__main__":
    main()
