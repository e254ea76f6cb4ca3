"""Lambda on one machine: each function runs in worker processes of its own, as execution environments.

    runtime = LambdaRuntime("http://127.0.0.1:4566", "us-east-1", Path(".local/logs"))
    runtime.register(spec)                       # a saga_local.cloudformation.specs.FunctionSpec
    invoke_hook.run_lambdas_with(runtime.runner) # every invoke moto makes (Step Functions Tasks too)
    result = runtime.invoke("fn", {"a": 1})      # InvokeResult(payload, error, duration_ms, ...)
    runtime.close()

A worker (saga_local/awslambda/worker.py, run by the venv's Python) sees what Lambda would show it: its
code directory and layers on PYTHONPATH (the venv's site-packages stand in for the layers'
requirements), the function's environment plus the variables Lambda sets, one invocation at a time.
Workers stay warm and are reused; when every worker of a function is busy, a new one starts with its real
init (a cold start), as far as the account's concurrency allows (saga_local.awslambda.account: the function's
reserved concurrency, else the account's unreserved share). Past that the invocation is throttled at once,
TooManyRequestsException, never queued. A worker that overruns its timeout or dies is killed and replaced
when next needed.
The protocol runs over a socket pair, never stdout: what a worker prints is its log, copied to
<log_dir>/<function name>.log between Lambda's START, END and REPORT lines.
"""

import contextlib
import json
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

from saga_local.awslambda import invoke_hook
from saga_local.awslambda.account import THROTTLED_MESSAGE, ConcurrencyAccount, Throttled
from saga_local.awslambda.invoke_hook import LambdaTarget
from saga_local.awslambda.worker import END_OF_OUTPUT
from saga_local.cloudformation.specs import FunctionSpec
from saga_local.faults import WORKER_FAULTS, FaultInjector
from saga_local.stepfunctions import timing
from saga_local.xray import segments as xray

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit for the init phase of an on-demand environment
OUTPUT_GRACE_SECONDS = 1.0  # how long to wait for a worker's last log lines after its answer
TAIL_BYTES = 4096  # what `LogType: Tail` returns
DEFAULT_XRAY_ADDRESS = "127.0.0.1:2000"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


@dataclass(frozen=True)
class InvokeResult:
    payload: Any  # the handler's answer; None when `error` is set
    error: dict[str, Any] | None  # Lambda's error payload: errorMessage, errorType, requestId?, stackTrace?
    duration_ms: float
    billed_ms: int
    init_ms: float | None  # on a cold start only: starting the worker and importing the handler
    log_tail: str  # the end (4 KB) of what this invocation logged, START to REPORT
    request_id: str = ""
    throttled: str | None = None  # refused before running (TooManyRequestsException): Lambda's throttle Reason


class _Log:
    """<log_dir>/<function name>.log, shared by the function's workers: whole lines, one writer at a time."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, line: str, capture: list[str] | None = None) -> None:
        if capture is not None:
            capture.append(line)
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class _Worker:
    """One execution environment: a process, its channel, and a thread copying its output to the log."""

    def __init__(self, process: subprocess.Popen[bytes], conn: Connection, log: _Log) -> None:
        self.process = process
        self.conn = conn
        self.lines: list[str] = []  # what the worker printed since the runtime last reset this
        self.drained = threading.Event()  # the worker's output up to its last answer has all been read
        self._log = log
        self._pump = threading.Thread(target=self._copy_output, name=f"lambda-log-{process.pid}", daemon=True)
        self._pump.start()

    def _copy_output(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith(END_OF_OUTPUT):
                self.drained.set()
            else:
                self._log.write(line, self.lines)
        self.drained.set()

    def take_output(self) -> list[str]:
        """Wait (briefly) for the output of the last exchange, return it and start a new capture."""
        self.drained.wait(OUTPUT_GRACE_SECONDS)
        self.drained.clear()
        lines, self.lines = self.lines, []
        return lines

    def signal_kill(self) -> None:
        """SIGKILL to the worker's process group: what a timed-out handler started dies with it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def kill(self) -> None:
        self.signal_kill()
        self.process.wait()
        self.conn.close()
        self._pump.join(timeout=OUTPUT_GRACE_SECONDS)

    def stop(self) -> None:
        """Close the channel: the worker's loop ends; one that does not within a second is killed."""
        self.conn.close()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()
        self._pump.join(timeout=OUTPUT_GRACE_SECONDS)


@dataclass
class _Function:
    """A registered function: its spec, its pool of workers, its log."""

    spec: FunctionSpec
    log: _Log
    credentials: dict[str, str]  # the role's session, as Lambda sets it in the environment
    idle: list[_Worker] = field(default_factory=list)
    busy: set[_Worker] = field(default_factory=set)
    starting: int = 0  # workers being started (by warm_up)
    changed: threading.Condition = field(default_factory=threading.Condition)
    closed: bool = False


@dataclass
class _Started:
    """What getting a worker for an invocation gave: a worker (None if its init failed), whether it was
    started for this invocation (a cold start), its init time, the init's log lines, the init's error."""

    worker: _Worker | None
    cold: bool = False
    init_ms: float | None = None
    init_lines: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None


class LambdaRuntime:
    def __init__(
        self,
        endpoint_url: str,
        region: str,
        log_dir: Path,
        *,
        account: ConcurrencyAccount | None = None,
        xray_address: str | None = None,
        faults_file: Path | None = None,
        python: str | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.log_dir = Path(log_dir)
        # The stack passes the account moto's Lambda API reports (saga_local.awslambda.account.concurrency_account).
        self.account = account or ConcurrencyAccount()
        self.xray_address = (
            xray_address
            or os.environ.get(xray.DAEMON_ADDRESS_ENV)  # what the stack set for its own daemon
            or DEFAULT_XRAY_ADDRESS
        )
        self.python = python or sys.executable
        self.faults = FaultInjector(faults_file)  # SAGA_LOCAL_FAULTS_FILE; off when unset
        self.faults.intercept_aws_calls()  # the functions' DynamoDB and SNS calls too, when a file is set
        self._functions: dict[str, _Function] = {}  # by name and by ARN
        self._lock = threading.Lock()

    # ------------------------------------------------------------ public interface

    def register(self, spec: FunctionSpec, credentials: Mapping[str, str] | None = None) -> None:
        """Run `spec`'s code for its function. Its reserved concurrency, if the account does not hold it yet (the
        provisioner's PutFunctionConcurrency does), is reserved: ReservationRefused as Lambda refuses it.
        `credentials`: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN for the function's role
        (Lambda sets them in each execution environment); fixed placeholder keys without them."""
        if spec.reserved_concurrency is not None and self.account.reserved(spec.name) != spec.reserved_concurrency:
            self.account.reserve(spec.name, spec.reserved_concurrency)
        log = _Log(self.log_dir / f"{spec.name}.log")
        function = _Function(spec, log, dict(credentials or FAKE_CREDENTIALS))
        with self._lock:
            self._functions[spec.name] = self._functions[spec.arn] = function

    def warm_up(self, *names: str, workers: int = 1) -> None:
        """Start `workers` workers for each function named (all by default; never more than its concurrency
        limit) and wait for their init, in parallel, so that no first invocation pays its imports inside a
        Task's timeout. Like provisioned concurrency, minus its bill (docs/local-stack.md, differences from AWS)."""
        threads = [
            threading.Thread(target=self._warm, args=(f, workers))
            for f in self._registered(names)
            for _ in range(min(workers, self.account.limit(f.spec.name)))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def invoke(self, name_or_arn: str, event: Any, *, trace_header: str | None = None) -> InvokeResult:
        """A synchronous (RequestResponse) invocation. What the function does never raises: a handler
        error, a crash or a timeout comes back in `error`, in Lambda's format. Raises LookupError for
        a function never registered. An invocation past the function's concurrency limit does not run: its
        result has `throttled` (Lambda's Reason) and a TooManyRequestsException `error`."""
        function = self._function(name_or_arn)
        spec = function.spec
        request_id = str(uuid.uuid4())
        event_json = json.dumps(event)  # a TypeError here is the caller's, raised before a worker is taken
        fault = self.faults.for_invocation((spec.logical_id, spec.name), event)
        FaultInjector.apply_latency(fault)
        if fault and fault.kind != "latency":
            function.log.write(f"FAULT RequestId: {request_id} injected {fault.error or fault.kind}")
        if fault and fault.kind == "error":  # the handler does not run: nothing it would have written exists
            injected = {"errorMessage": fault.message, "errorType": fault.error}
            return InvokeResult(None, injected, 0.0, 0, None, "", request_id)
        if fault and fault.kind == "duplicate":  # delivered twice: the first reply is lost, the caller gets the second
            self._invoke_once(function, request_id, event_json, trace_header, None)
            request_id = str(uuid.uuid4())
        worker_fault = fault.kind if fault and fault.kind in WORKER_FAULTS else None
        return self._invoke_once(function, request_id, event_json, trace_header, worker_fault)

    def _invoke_once(
        self, function: _Function, request_id: str, event_json: str, trace_header: str | None, worker_fault: str | None
    ) -> InvokeResult:
        try:
            with self.account.admit(function.spec.name):
                return self._run_admitted(function, request_id, event_json, trace_header, worker_fault)
        except Throttled as throttled:  # nothing ran, nothing is logged: Lambda counts it in its Throttles metric
            error = {"errorMessage": THROTTLED_MESSAGE, "errorType": "TooManyRequestsException"}
            return InvokeResult(None, error, 0.0, 0, None, "", request_id, throttled=throttled.reason)

    def _run_admitted(
        self, function: _Function, request_id: str, event_json: str, trace_header: str | None, worker_fault: str | None
    ) -> InvokeResult:
        spec = function.spec
        started = time.time()
        got = self._acquire(function)
        trace = _Trace.begin(trace_header, spec.tracing_active)
        tail = list(got.init_lines)
        function.log.write(f"START RequestId: {request_id} Version: $LATEST", tail)
        payload, error, duration_ms, memory_mb = None, got.error, 0.0, 0
        if got.worker is not None:
            run = self._run(function, got.worker, request_id, event_json, trace, worker_fault)
            payload, error, duration_ms, memory_mb, lines = run
            tail += lines

        init_ms = got.init_ms if got.cold else None
        billed_ms = math.ceil(duration_ms + (init_ms or 0))  # the init phase is billed too (since August 2025)
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
            f"Memory Size: {spec.memory_mb} MB\tMax Memory Used: {memory_mb} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if error is not None:
            report += "\tStatus: timeout" if error["errorType"] == "Sandbox.Timedout" else "\tStatus: error"
        function.log.write(f"END RequestId: {request_id}", tail)
        function.log.write(report, tail)
        trace.end(spec, request_id, started, init_ms, error, self.xray_address)
        return InvokeResult(
            payload=None if error else payload,
            error=error,
            duration_ms=round(duration_ms, 2),
            billed_ms=billed_ms,
            init_ms=None if init_ms is None else round(init_ms, 2),
            log_tail="\n".join(tail).encode()[-TAIL_BYTES:].decode("utf-8", "ignore"),
            request_id=request_id,
        )

    def runner(
        self, target: LambdaTarget, event: Any, headers: Mapping[str, str] | None = None
    ) -> tuple[Any, dict[str, Any] | None]:
        """For saga_local.awslambda.invoke_hook.run_lambdas_with: the invocation joins the trace of the Task state that
        made it (saga_local.xray.propagation), or of an `X-Amzn-Trace-Id` request header."""
        trace_header = target.trace_header or next(
            (v for k, v in (headers or {}).items() if k.lower() == "x-amzn-trace-id"), None
        )
        result = self.invoke(target.arn or target.name, event, trace_header=trace_header)
        invoke_hook.report_log_tail(result.log_tail)
        if result.throttled:  # the Invoke call itself fails (HTTP 429), as it does on Lambda
            raise Throttled(result.throttled)
        return result.payload, result.error

    def workers(self, name_or_arn: str) -> list[int]:
        """The pids of a function's live workers, idle and busy (for tests and the CLI)."""
        function = self._function(name_or_arn)
        with function.changed:
            return sorted(worker.process.pid for worker in (*function.idle, *function.busy))

    def close(self) -> None:
        """Stop every worker. An invocation still running ends with Runtime.ExitError."""
        functions = self._registered(())
        with self._lock:
            self._functions.clear()
        for function in functions:
            with function.changed:
                function.closed = True
                idle, busy = list(function.idle), list(function.busy)
                function.idle.clear()
                function.changed.notify_all()
            for worker in busy:
                worker.signal_kill()  # its invoking thread sees the channel close and cleans up
            for worker in idle:
                worker.stop()
            function.log.close()
        self.faults.close()

    # ------------------------------------------------------------ the pool

    def _registered(self, names: tuple[str, ...]) -> list[_Function]:
        with self._lock:
            unique = {id(f): f for f in self._functions.values() if not names or f.spec.name in names}
        return list(unique.values())

    def _function(self, name_or_arn: str) -> _Function:
        with self._lock:
            function = self._functions.get(name_or_arn) or self._functions.get(_unqualified(name_or_arn))
        if function is None:
            raise LookupError(f"no local code for Lambda function {name_or_arn!r}")
        return function

    def _acquire(self, function: _Function) -> _Started:
        """For an admitted invocation: the most recently used idle worker (warmest, as Lambda prefers), else a
        new one (a cold start, its init timed). Never waits for a busy one: admission bounds the count."""
        with function.changed:
            if function.closed:
                return _Started(None, error={"errorMessage": "the local Lambda runtime is closed",
                                             "errorType": "ServiceException"})  # fmt: skip
            if function.idle:
                worker = function.idle.pop()
                function.busy.add(worker)
                return _Started(worker)
        started = self._start_worker(function)
        started.cold = True
        if started.worker is not None:
            with function.changed:
                function.busy.add(started.worker)
        return started

    def _release(self, function: _Function, worker: _Worker, *, reusable: bool) -> None:
        with function.changed:
            function.busy.discard(worker)
            keep = reusable and not function.closed
            if keep:
                function.idle.append(worker)
            function.changed.notify()
        if not keep:
            worker.kill()

    def _warm(self, function: _Function, workers: int = 1) -> None:
        with function.changed:
            running = len(function.idle) + len(function.busy) + function.starting
            if running >= min(workers, self.account.limit(function.spec.name)) or function.closed:
                return
            function.starting += 1
        started = _Started(None)
        try:
            started = self._start_worker(function)
        finally:
            with function.changed:
                function.starting -= 1
                if started.worker is not None:
                    function.idle.append(started.worker)
                function.changed.notify()

    def _start_worker(self, function: _Function) -> _Started:
        """Start a worker and wait for its init. If init fails, the worker is gone and `error` says why."""
        spec = function.spec
        log_stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{secrets.token_hex(16)}"
        init_lines: list[str] = []
        function.log.write(f"INIT_START Runtime Version: {spec.runtime}", init_lines)
        started = time.perf_counter()  # Lambda's Init Duration: the runtime's start and the handler's import
        ours, theirs = socket.socketpair()
        with ours, theirs:
            process = subprocess.Popen(  # noqa: S603 - our interpreter and script, no shell
                # -P: the script's folder (saga_local/) is not put on sys.path; -u: log lines leave at once.
                [self.python, "-P", "-u", str(WORKER_SCRIPT), str(theirs.fileno())],
                env=self._environment(function, log_stream),
                cwd=spec.code_dir,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, which a kill takes down whole
            )
            conn = Connection(os.dup(ours.fileno()))
        worker = _Worker(process, conn, function.log)
        try:
            if not conn.poll(INIT_TIMEOUT_SECONDS):
                worker.kill()
                error = {"errorMessage": f"Init timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds",
                         "errorType": "Sandbox.Timedout"}  # fmt: skip
                return _Started(None, init_lines=init_lines + worker.take_output(), error=error)
            init = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            worker.kill()
            error = _exit_error(None, process.returncode)
            return _Started(None, init_lines=init_lines + worker.take_output(), error=error)
        init_lines += worker.take_output()
        if init["error"] is not None:  # Lambda discards the environment; the invocation reports the error
            worker.stop()
            return _Started(None, init_lines=init_lines, error=init["error"])
        return _Started(worker, init_ms=(time.perf_counter() - started) * 1000, init_lines=init_lines)

    def _environment(self, function: _Function, log_stream: str) -> dict[str, str]:
        """Exactly what a Lambda execution environment has: the function's variables and Lambda's own."""
        spec = function.spec
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
            "_HANDLER": spec.handler,
            "PYTHONPATH": os.pathsep.join(str(path) for path in (spec.code_dir, *spec.layer_dirs)),
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",  # Lambda has en_US.UTF-8; a machine without that locale would coerce LC_CTYPE
            "TZ": ":UTC",
            **function.credentials,
            "AWS_ENDPOINT_URL": self.endpoint_url,  # boto3 in the function talks to the local endpoint
            "AWS_XRAY_DAEMON_ADDRESS": self.xray_address,
            "_AWS_XRAY_DAEMON_ADDRESS": host,
            "_AWS_XRAY_DAEMON_PORT": port,
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        }

    # ------------------------------------------------------------ one invocation

    def _run(
        self,
        function: _Function,
        worker: _Worker,
        request_id: str,
        event_json: str,
        trace: "_Trace",
        worker_fault: str | None = None,
    ) -> tuple[Any, dict[str, Any] | None, float, int, list[str]]:
        """Send the invocation and wait for the answer until the function's timeout.
        Returns (payload, error, duration ms, max memory MB, the invocation's log lines)."""
        # Scaled as the Tasks' TimeoutSeconds are (SAGA_LOCAL_TIMEOUT_SCALE, 1 by default): the two are chosen together
        # (docs/saga.md, The time budget), and every function shares this one machine.
        timeout = function.spec.timeout_seconds * timing.timeout_scale()
        started = time.monotonic()
        message = {
            "requestId": request_id,
            "event": event_json,
            "deadlineMs": int((time.time() + timeout) * 1000),
            "invokedFunctionArn": function.spec.arn,
            "traceHeader": trace.worker_header,
        }
        if worker_fault:  # saga_local.faults: the worker runs the handler, then crashes or overruns its timeout
            message["fault"] = worker_fault
        try:
            worker.conn.send_bytes(json.dumps(message).encode())
            if not worker.conn.poll(timeout):
                worker.signal_kill()
                lines = worker.take_output()
                self._release(function, worker, reusable=False)
                text = f"{request_id} Task timed out after {timeout:.2f} seconds"
                function.log.write(f"{_timestamp()} {text}", lines)
                return None, {"errorMessage": text, "errorType": "Sandbox.Timedout"}, timeout * 1000.0, 0, lines
            answer = json.loads(worker.conn.recv_bytes())
        except (EOFError, OSError):  # it died mid-invocation: os._exit, a signal, close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout=OUTPUT_GRACE_SECONDS)  # its exit status, for the error
            lines = worker.take_output()
            self._release(function, worker, reusable=False)
            elapsed_ms = (time.monotonic() - started) * 1000
            return None, _exit_error(request_id, worker.process.returncode), elapsed_ms, 0, lines
        lines = worker.take_output()  # before END: everything the handler printed is in the log first
        self._release(function, worker, reusable=True)
        return answer.get("payload"), answer.get("error"), answer["durationMs"], answer["maxMemoryMB"], lines


@dataclass
class _Trace:
    """The function segment Lambda records for a sampled invocation. Its id is the Parent of the header
    the worker gets, so the X-Ray SDK's subsegments (under its facade segment) land under it."""

    root: str | None = None  # None: nothing to record
    parent: str | None = None
    segment_id: str = field(default_factory=xray.new_segment_id)
    worker_header: str | None = None

    @classmethod
    def begin(cls, header: str | None, tracing_active: bool) -> "_Trace":
        fields = xray.parse_trace_header(header)
        if "Root" in fields:
            if fields.get("Sampled") == "0":  # propagated, not recorded
                return cls(worker_header=header)
            trace = cls(root=fields["Root"], parent=fields.get("Parent"))
        elif tracing_active:  # Active tracing and no caller's trace: Lambda starts one
            trace = cls(root=xray.new_trace_id())
        else:
            return cls()
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
        if error is not None:  # a function error is a fault of the function, whatever its type
            extra["cause"] = {"exceptions": [{"id": xray.new_segment_id(), "type": error.get("errorType"),
                                              "message": error.get("errorMessage")}]}  # fmt: skip
        document = xray.segment(
            name=spec.name, trace_id=self.root, start=started, end=time.time(), parent_id=self.parent,
            origin="AWS::Lambda::Function", fault=error is not None, **extra,
        )  # fmt: skip
        host, _, port = address.rpartition(":")
        xray.send_segment(document, (host or "127.0.0.1", int(port)))


def _exit_error(request_id: str | None, returncode: int | None) -> dict[str, Any]:
    """Lambda's words for a runtime process that ended without answering."""
    if not returncode:
        reason = "Runtime exited without providing a reason"
    elif returncode > 0:
        reason = f"Runtime exited with error: exit status {returncode}"
    else:
        reason = f"Runtime exited with error: signal: {_signal_name(-returncode)}"
    message = f"RequestId: {request_id} Error: {reason}" if request_id else reason
    return {"errorMessage": message, "errorType": "Runtime.ExitError"}


def _signal_name(number: int) -> str:
    """As Go (Lambda's init process) prints them: `killed`, `segmentation fault`..."""
    known = {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted"}
    with contextlib.suppress(ValueError):
        return known.get(signal.Signals(number), signal.Signals(number).name.lower())
    return str(number)


def _unqualified(name_or_arn: str) -> str:
    """`arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]` or `<name>:<qualifier>` -> the
    name: locally there is only $LATEST."""
    parts = name_or_arn.split(":")
    return parts[6] if name_or_arn.startswith("arn:") and len(parts) >= 7 else parts[0]


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
