"""Lambda on one machine: each function runs in worker processes of its own, as execution environments.

    runtime = LambdaRuntime("http://127.0.0.1:4566", "us-east-1", Path(".local/logs"))
    runtime.register(spec)                       # a saga_local.specs.FunctionSpec
    moto_gaps.run_lambdas_with(runtime.runner)   # every invoke moto makes (Step Functions Tasks too)
    result = runtime.invoke("fn", {"a": 1})      # or directly: InvokeResult(payload, error, ...)
    runtime.close()

A worker (saga_local/lambda_worker.py, the venv's Python) sees only what Lambda would show it: its
code directory and layers on PYTHONPATH, the function's environment plus the variables Lambda sets,
one invocation at a time. Workers stay warm and are reused; a function gets more of them as
concurrent invocations need, up to a limit. A worker that overruns its timeout is killed and
replaced by the next invocation that needs one. The protocol runs over a socket pair, never over
stdout: what a worker prints is its log, written to <log_dir>/<function name>.log between Lambda's
START, END and REPORT lines.
"""

import contextlib
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from saga_local import xray
from saga_local.lambda_worker import END_OF_OUTPUT, TRACE_ENV
from saga_local.moto_gaps import LambdaTarget
from saga_local.specs import FunctionSpec

WORKER_SCRIPT = Path(__file__).with_name("lambda_worker.py")
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit for the init phase of an on-demand environment
TAIL_BYTES = 4096  # what `LogType: Tail` returns
XRAY_ADDRESS_ENV = "LOCAL_XRAY_ADDRESS"
DEFAULT_XRAY_ADDRESS = "127.0.0.1:2000"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


@dataclass(frozen=True)
class InvokeResult:
    payload: Any  # the handler's answer (None when `error` is set)
    error: dict[str, Any] | None  # Lambda's error payload: errorMessage, errorType, requestId?, stackTrace
    duration_ms: float
    billed_ms: int
    init_ms: float | None  # set on a cold start only
    log_tail: str  # the last 4 KB this invocation logged, START to REPORT
    request_id: str = ""


class _Worker:
    """One execution environment: a process, its channel, and the thread that copies its output to the log."""

    def __init__(self, process: subprocess.Popen[bytes], conn: Connection, log: "_Log") -> None:
        self.process = process
        self.conn = conn
        self.init_ms: float | None = None
        self.lines: list[str] = []  # what the current invocation logged
        self.drained = threading.Event()  # set when the worker's output of an invocation was all read
        self._log = log
        self._pump = threading.Thread(target=self._copy_output, name=f"lambda-log-{process.pid}", daemon=True)
        self._pump.start()

    def _copy_output(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith(END_OF_OUTPUT):
                self.drained.set()
                continue
            self.lines.append(line)
            self._log.write(line)
        self.drained.set()

    def kill(self) -> None:
        """The worker and whatever it started (its own session): a timed-out handler may have children."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.conn.close()
        self._pump.join(timeout=1)

    def stop(self) -> None:
        """Close the channel: an idle worker exits; one still busy after a second is killed."""
        self.conn.close()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()
        self._pump.join(timeout=1)


class _Log:
    """<log_dir>/<function>.log, shared by the function's workers (one writer per line)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class _Function:
    """A registered function: its spec, its pool of workers, its log."""

    def __init__(self, spec: FunctionSpec, limit: int, log: _Log) -> None:
        self.spec = spec
        self.limit = limit
        self.log = log
        self.idle: list[_Worker] = []
        self.busy: set[_Worker] = set()
        self.starting = 0  # workers being started, counted against the limit
        self.changed = threading.Condition()
        self.closed = False


class LambdaRuntime:
    def __init__(
        self,
        endpoint_url: str,
        region: str,
        log_dir: Path,
        *,
        max_workers_per_function: int = 4,
        xray_address: str | None = None,
        python: str | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.log_dir = Path(log_dir)
        self.max_workers_per_function = max_workers_per_function
        self.xray_address = xray_address or os.environ.get(XRAY_ADDRESS_ENV) or DEFAULT_XRAY_ADDRESS
        self.python = python or sys.executable  # the venv's interpreter: its site-packages stand in for layers
        self._functions: dict[str, _Function] = {}  # by name and by ARN
        self._lock = threading.Lock()

    # ------------------------------------------------------------ public interface

    def register(self, spec: FunctionSpec) -> None:
        limit = self.max_workers_per_function
        if spec.reserved_concurrency is not None:
            limit = min(limit, spec.reserved_concurrency)
        function = _Function(spec, limit, _Log(self.log_dir / f"{spec.name}.log"))
        with self._lock:
            self._functions[spec.name] = self._functions[spec.arn] = function

    def warm_up(self, *names: str) -> None:
        """Start one worker for each function named (all by default) and wait for their init, in
        parallel: a first invocation then does not pay its imports inside a Task's timeout."""
        with self._lock:
            functions = {id(f): f for f in self._functions.values() if not names or f.spec.name in names}
        threads = [threading.Thread(target=self._warm, args=(f,)) for f in functions.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def invoke(self, name_or_arn: str, event: Any, *, trace_header: str | None = None) -> InvokeResult:
        """A synchronous invocation (RequestResponse). Never raises for what the function does: a
        handler error, a crash or a timeout come back in `error`, in Lambda's format."""
        function = self._function(name_or_arn)
        spec = function.spec
        request_id = str(uuid.uuid4())
        if function.limit <= 0:  # reserved concurrency 0: the function is switched off
            error = _error(request_id, "Rate Exceeded.", "TooManyRequestsException")
            return InvokeResult(None, error, 0.0, 0, None, "", request_id)

        started = time.time()
        worker, lines, init_error = self._acquire(function)
        init_ms = worker.init_ms if worker is not None and worker.init_ms is not None and not worker.lines else None
        if worker is not None:
            worker.init_ms = None  # reported with its first invocation only
        trace = _Trace.begin(trace_header, spec.tracing_active)

        log = function.log
        log.write(f"START RequestId: {request_id} Version: $LATEST")
        if worker is None:  # init failed or timed out: Lambda reports it as this invocation's error
            error, duration_ms, max_memory = init_error or {}, 0.0, 0
        else:
            error, payload, duration_ms, max_memory = self._run(function, worker, request_id, event, trace)
        if worker is None or error is not None and error["errorType"].startswith(("Sandbox.", "Runtime.Exit")):
            payload = None
        log.write(f"END RequestId: {request_id}")
        billed_ms = math.ceil(duration_ms + (init_ms or 0))  # the init phase is billed too (since August 2025)
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
            f"Memory Size: {spec.memory_mb} MB\tMax Memory Used: {max_memory} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if error is not None and error["errorType"] == "Sandbox.Timedout":
            report += "\tStatus: timeout"
        log.write(report)
        trace.end(spec, request_id, started, init_ms, error, self.xray_address)

        tail = "\n".join([*lines, *(worker.lines if worker else ())][-200:])
        tail = f"{tail}\nSTART ... (see the log)\n" if False else tail  # noqa: SIM108 - placeholder never used
        return InvokeResult(
            None if error else payload,
            error,
            round(duration_ms, 2),
            billed_ms,
            None if init_ms is None else round(init_ms, 2),
            _tail(request_id, tail, duration_ms, billed_ms, spec),
            request_id,
        )

    def runner(
        self, target: LambdaTarget, event: Any, headers: Mapping[str, str] | None = None
    ) -> tuple[Any, dict[str, Any] | None]:
        """For saga_local.moto_gaps.run_lambdas_with. moto passes no request headers today; when a
        caller does, the `X-Amzn-Trace-Id` one joins the invocation to its trace."""
        trace_header = next((v for k, v in (headers or {}).items() if k.lower() == "x-amzn-trace-id"), None)
        result = self.invoke(target.arn or target.name, event, trace_header=trace_header)
        return result.payload, result.error

    def workers(self, name_or_arn: str) -> list[int]:
        """The pids of a function's live workers (idle and busy), for tests and the CLI."""
        function = self._function(name_or_arn)
        with function.changed:
            return sorted(w.process.pid for w in (*function.idle, *function.busy))

    def close(self) -> None:
        """Stop every worker. Invocations still running end with Runtime.ExitError."""
        with self._lock:
            functions = {id(f): f for f in self._functions.values()}.values()
            self._functions.clear()
        for function in functions:
            with function.changed:
                function.closed = True
                workers = [*function.idle, *function.busy]
                function.idle.clear()
                function.changed.notify_all()
            for worker in workers:
                worker.stop()
            function.log.close()

    # ------------------------------------------------------------ the pool

    def _function(self, name_or_arn: str) -> _Function:
        with self._lock:
            function = self._functions.get(name_or_arn) or self._functions.get(_unqualified(name_or_arn))
        if function is None:
            raise LookupError(f"no local code for Lambda function {name_or_arn!r}")
        return function

    def _acquire(self, function: _Function) -> tuple[_Worker | None, list[str], dict[str, Any] | None]:
        """A warm idle worker (the most recently used, as Lambda reuses), else a new one while under
        the limit, else wait for one to come back. Returns (worker, init log lines, init error)."""
        with function.changed:
            while True:
                if function.closed:
                    raise RuntimeError("the Lambda runtime is closed")
                if function.idle:
                    worker = function.idle.pop()
                    function.busy.add(worker)
                    return worker, [], None
                if len(function.busy) + function.starting < function.limit:
                    function.starting += 1
                    break
                function.changed.wait()
        worker = None
        try:
            worker, error = self._start_worker(function.spec, function.log)
        finally:
            with function.changed:
                function.starting -= 1
                if worker is not None and error is None:
                    function.busy.add(worker)
                function.changed.notify()
        if error is not None:
            lines = worker.lines if worker else []
            return None, lines, error
        return worker, [], None

    def _release(self, function: _Function, worker: _Worker, *, healthy: bool) -> None:
        with function.changed:
            function.busy.discard(worker)
            if healthy and not function.closed:
                function.idle.append(worker)
            function.changed.notify()
        if not healthy:
            worker.kill()

    def _warm(self, function: _Function) -> None:
        with function.changed:
            if function.idle or function.busy or function.starting or function.limit <= 0:
                return
            function.starting += 1
        worker, error = None, None
        try:
            worker, error = self._start_worker(function.spec, function.log)
        finally:
            with function.changed:
                function.starting -= 1
                if worker is not None and error is None:
                    worker.init_ms = None  # paid before any invocation: no invocation reports it
                    function.idle.append(worker)
                function.changed.notify()

    def _start_worker(self, spec: FunctionSpec, log: _Log) -> tuple[_Worker | None, dict[str, Any] | None]:
        """Start a worker and wait for its init; on failure the worker is gone and the error is Lambda's."""
        ours, theirs = socket.socketpair()
        log_stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{secrets.token_hex(16)}"
        log.write(f"INIT_START Runtime Version: {spec.runtime}")
        with ours, theirs:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and script, no shell
                [self.python, "-P", "-u", str(WORKER_SCRIPT), str(theirs.fileno())],
                env=self._environment(spec, log_stream),
                cwd=spec.code_dir,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a kill reaches what the handler started
            )
            conn = Connection(os.dup(ours.fileno()))
        worker = _Worker(process, conn, log)
        try:
            if not conn.poll(INIT_TIMEOUT_SECONDS):
                worker.kill()
                return worker, _error("", f"Init timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds", "Sandbox.Timedout")
            init = _loads(conn.recv_bytes())
        except (EOFError, OSError):
            worker.kill()
            return worker, _exit_error("", worker.process.returncode)
        worker.init_ms = init["initMs"]
        if init["error"] is not None:
            worker.stop()
            return worker, init["error"]
        return worker, None

    def _environment(self, spec: FunctionSpec, log_stream: str) -> dict[str, str]:
        """Exactly what a Lambda execution environment has: the function's variables and Lambda's own."""
        host, _, port = self.xray_address.rpartition(":")
        return {
            **spec.environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(WORKER_SCRIPT.parent),
            "_HANDLER": spec.handler,
            "PYTHONPATH": os.pathsep.join(str(path) for path in (spec.code_dir, *spec.layer_dirs)),
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,  # boto3 in the function talks to the local endpoint
            "AWS_XRAY_DAEMON_ADDRESS": self.xray_address,
            "_AWS_XRAY_DAEMON_ADDRESS": host,
            "_AWS_XRAY_DAEMON_PORT": port,
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        }

    # ------------------------------------------------------------ one invocation

    def _run(
        self, function: _Function, worker: _Worker, request_id: str, event: Any, trace: "_Trace"
    ) -> tuple[dict[str, Any] | None, Any, float, int]:
        """Send the invocation and wait for its answer until the function's timeout.
        Returns (error, payload, duration ms, max memory MB)."""
        spec = function.spec
        started = time.monotonic()
        deadline_ms = int((time.time() + spec.timeout_seconds) * 1000)
        worker.lines = []
        worker.drained.clear()
        message = {
            "requestId": request_id,
            "event": event,
            "deadlineMs": deadline_ms,
            "invokedFunctionArn": spec.arn,
            "traceHeader": trace.worker_header,
        }
        try:
            worker.conn.send_bytes(_dumps(message))
            if not worker.conn.poll(spec.timeout_seconds):
                worker.kill()
                self._release(function, worker, healthy=False)
                function.log.write(
                    f"{_timestamp()} {request_id} Task timed out after {spec.timeout_seconds:.2f} seconds"
                )
                message_text = f"{request_id} Task timed out after {spec.timeout_seconds:.2f} seconds"
                return _error(None, message_text, "Sandbox.Timedout"), None, spec.timeout_seconds * 1000.0, 0
            answer = _loads(worker.conn.recv_bytes())
        except (EOFError, OSError):  # the worker died mid-invocation (os._exit, a signal, an OOM kill)
            worker.kill()
            self._release(function, worker, healthy=False)
            elapsed = (time.monotonic() - started) * 1000
            return _exit_error(request_id, worker.process.returncode), None, elapsed, 0
        worker.drained.wait(timeout=1)  # the END line must come after everything the handler printed
        self._release(function, worker, healthy=True)
        return answer.get("error"), answer.get("payload"), answer["durationMs"], answer["maxMemoryMB"]


@dataclass
class _Trace:
    """The function segment Lambda records for a sampled invocation. Its id is the Parent of the header
    the worker sees, so the X-Ray SDK's subsegments (under its facade segment) land under it."""

    root: str | None = None
    parent: str | None = None
    segment_id: str = field(default_factory=xray.new_segment_id)
    worker_header: str | None = None

    @classmethod
    def begin(cls, header: str | None, tracing_active: bool) -> "_Trace":
        fields = xray.parse_trace_header(header)
        if fields.get("Root"):
            trace = cls(root=fields["Root"], parent=fields.get("Parent"))
            sampled = fields.get("Sampled", "1") != "0"
        elif tracing_active:  # Active tracing with no caller trace: Lambda starts one
            trace, sampled = cls(root=xray.new_trace_id()), True
        else:
            return cls()
        if not sampled:
            trace.worker_header = xray.format_trace_header(trace.root or "", trace.parent, sampled=False)
            trace.root = None  # propagated, not recorded
            return trace
        trace.worker_header = xray.format_trace_header(trace.root or "", trace.segment_id)
        return trace

    def end(
        self,
        spec: FunctionSpec,
        request_id: str,
        started: float,
        init_ms: float | None,
        error: dict[str, Any] | None,
        address: str,
    ) -> None:
        if self.root is None:
            return
        extra: dict[str, Any] = {
            "id": self.segment_id,
            "aws": {"function_arn": spec.arn, "resource_names": [spec.name], "request_id": request_id},
        }
        if init_ms is not None:
            extra["subsegments"] = [{"id": xray.new_segment_id(), "name": "Initialization",
                                     "start_time": started, "end_time": started + init_ms / 1000}]  # fmt: skip
        if error is not None:
            extra["cause"] = {"exceptions": [{"id": xray.new_segment_id(), "message": error.get("errorMessage", ""),
                                              "type": error.get("errorType", "")}]}  # fmt: skip
        document = xray.segment(
            name=spec.name, trace_id=self.root, start=started, end=time.time(), parent_id=self.parent,
            origin="AWS::Lambda::Function", fault=error is not None, **extra,
        )  # fmt: skip
        host, _, port = address.rpartition(":")
        xray.send_segment(document, (host or "127.0.0.1", int(port)))


def _tail(request_id: str, lines: str, duration_ms: float, billed_ms: int, spec: FunctionSpec) -> str:
    text = f"START RequestId: {request_id} Version: $LATEST\n{lines}\nEND RequestId: {request_id}\n" + (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
        f"Memory Size: {spec.memory_mb} MB\n"
    )
    return text.encode()[-TAIL_BYTES:].decode("utf-8", "ignore")


def _error(request_id: str | None, message: str, error_type: str) -> dict[str, Any]:
    error: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if request_id:
        error["requestId"] = request_id
    return error


def _exit_error(request_id: str, returncode: int | None) -> dict[str, Any]:
    """Lambda's words for a runtime process that ended without answering."""
    if returncode is None or returncode == 0:
        reason = "Runtime exited without providing a reason"
    elif returncode > 0:
        reason = f"Runtime exited with error: exit status {returncode}"
    else:
        reason = f"Runtime exited with error: signal: {_signal_name(-returncode)}"
    return _error(None, f"RequestId: {request_id} Error: {reason}" if request_id else reason, "Runtime.ExitError")


def _signal_name(number: int) -> str:
    with contextlib.suppress(ValueError):
        return {"SIGKILL": "killed", "SIGSEGV": "segmentation fault", "SIGABRT": "aborted"}.get(
            signal.Signals(number).name, signal.Signals(number).name.lower()
        )
    return str(number)


def _unqualified(name_or_arn: str) -> str:
    """`arn:aws:lambda:r:a:function:name:qualifier` or `name:qualifier` -> the function's name
    (there is only $LATEST locally)."""
    parts = name_or_arn.split(":")
    if name_or_arn.startswith("arn:") and len(parts) >= 7:
        return parts[6]
    return parts[0]


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


def _dumps(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def _loads(data: bytes) -> Any:
    import json

    return json.loads(data)
