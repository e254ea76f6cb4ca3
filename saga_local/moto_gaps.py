"""Where moto differs from AWS in ways this application relies on, closed here and nowhere else.

Each gap has a test named after it in tests/local/test_moto_gaps.py, so a moto upgrade that
reopens one fails there, not in a saga test far away. Every patch is process-wide (as moto's
backends are) and idempotent; the Lambda one does nothing until a runner is set, and the retry
scale is 1 unless SAGA_LOCAL_RETRY_SCALE says otherwise.

- serialize_dynamodb: moto's DynamoDB loses concurrent updates (moto.dynamodb.responses.DynamoHandler).
- run_lambdas_with: moto runs Lambda code only in Docker (moto.awslambda.models.LambdaFunction.invoke).
- enable_start_sync_execution: StartSyncExecution is not implemented (moto.stepfunctions.responses).
- scale_retry_waits: Retry waits really sleep (moto.stepfunctions.parser...retry.retrier_decl).
- fix_definite_json_paths: `$[0].x` gives a list, not the value (moto.stepfunctions.parser.asl.utils.json_path).
- propagate_traces: Step Functions takes no part in X-Ray traces (moto.stepfunctions.parser: no segments,
  no trace header on the Lambda invocations a Task makes).
- scale_timeouts: TimeoutSeconds scaled by SAGA_LOCAL_TIMEOUT_SCALE for a small machine under load.
- keep_parallel_branch_error_names: a Parallel branch failing with States.Timeout crashes the interpreter
  (moto.stepfunctions.parser...state_parallel.branches_decl).
- enable_mock_config: the Step Functions Local mock configuration loader is stubbed (tests in
  tests/local/test_moto_mock_config.py).
"""

import json
import math
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, wraps
from typing import Any

from saga_local.xray import format_trace_header, new_segment_id, parse_trace_header, segment, send_segment

_dynamodb_lock = threading.RLock()
_patched: set[str] = set()


def serialize_dynamodb() -> None:
    """moto's DynamoDB is not safe under concurrency: concurrent updates are lost and conditional
    writes are not atomic. DynamoDB applies each request atomically, so run one request at a time."""
    if "dynamodb" in _patched:
        return
    from moto.dynamodb.responses import DynamoHandler

    unlocked = DynamoHandler.call_action

    @wraps(unlocked)
    def call_action(self: Any) -> Any:
        with _dynamodb_lock:
            return unlocked(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _patched.add("dynamodb")


# ---------------------------------------------------------------- Lambda: run the code without Docker


@dataclass(frozen=True)
class LambdaTarget:
    """The function moto was asked to invoke, as its backend knows it."""

    name: str
    arn: str
    timeout: int  # seconds, the function's configured Timeout
    memory_size: int  # MB
    # The Invoke request's X-Amzn-Trace-Id (`Root=...;Parent=...;Sampled=...`): the trace the function joins.
    trace_header: str | None = None


# runner(target, event) -> (payload, None) on success, (None, error payload) on an unhandled exception.
Runner = Callable[[LambdaTarget, Any], tuple[Any, dict[str, Any] | None]]

_runner: Runner | None = None


def lambda_error(exc: BaseException, request_id: str | None = None) -> dict[str, Any]:
    """The payload Lambda's Python runtime returns for an unhandled exception. Step Functions takes
    `errorType` (the class name, unqualified) as the error name its Retry and Catch match."""
    error: dict[str, Any] = {"errorMessage": str(exc), "errorType": type(exc).__name__}
    if request_id:
        error["requestId"] = request_id
    error["stackTrace"] = traceback.format_list(traceback.extract_tb(exc.__traceback__))
    return error


def run_lambdas_with(runner: Runner | None) -> Runner | None:
    """From now on every invocation moto makes of a Lambda function calls `runner` instead of Docker:
    boto3 `lambda.invoke`, a Step Functions Task whose Resource is a function ARN or
    `arn:aws:states:::lambda:invoke`, SNS/S3/EventBridge targets. All of them reach
    `LambdaFunction.invoke`, so that is the one place hooked. The answer has Lambda's format: the
    JSON payload, or the error payload with `X-Amz-Function-Error: Unhandled`.

    `None` gives moto its own behaviour back. Returns the runner it replaces, so a fixture can
    restore it. The runner is process-wide (moto's backends are too), not per mock_aws.
    """
    global _runner
    _install_lambda_hook()
    previous, _runner = _runner, runner
    return previous


def _install_lambda_hook() -> None:
    if "lambda" in _patched:
        return
    from moto.awslambda.models import LambdaFunction

    moto_invoke = LambdaFunction.invoke

    @wraps(moto_invoke)
    def invoke(self: Any, body: str | bytes | None, request_headers: Any, response_headers: Any) -> bytes:
        runner = _runner
        if runner is None:
            return moto_invoke(self, body, request_headers, response_headers)
        event = json.loads(body) if body else {}
        target = LambdaTarget(
            self.function_name, self.function_arn, int(self.timeout), int(self.memory_size),
            trace_header=_header(request_headers, _TRACE_HEADER),
        )  # fmt: skip
        try:
            payload, error = runner(target, event)
        except Exception as exc:  # the runner itself broke: Lambda reports a runtime crash the same way
            payload, error = None, lambda_error(exc)
        response_headers["x-amz-executed-version"] = str(self.version)
        if error is not None:
            # "Unhandled" (not moto's "Handled"): what the Python runtime sets for a raised exception.
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(error).encode()
        return json.dumps(payload).encode()

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    _patched.add("lambda")


# ---------------------------------------------------------------- Step Functions: StartSyncExecution

# boto3 sends StartSyncExecution to the host `sync-states.<region>.amazonaws.com` (an endpoint host
# prefix); moto routes only `states.`. Against a moto server, clients still need
# AWS_DISABLE_HOST_PREFIX_INJECTION=true, or they would resolve `sync-localhost`.
_SYNC_URL_BASE = r"https?://sync-states\.(.+)\.amazonaws.com"
_BILLED_DURATION_MS = 100  # Express duration is billed in 100 ms steps...
_BILLED_MEMORY_MB = 64  # ...and memory in 64 MB steps.


def enable_start_sync_execution() -> None:
    """StartSyncExecution for EXPRESS state machines: the execution runs in the request's thread
    with moto's interpreter (`SyncExecution`, which moto ships but never calls) and the response has
    the AWS shape, billingDetails included. Needs moto's interpreter
    (`{"stepfunctions": {"execute_state_machine": True}}`). Works in-process and in a moto server
    started in a process that called this. Like AWS, the execution is not kept: Describe/List
    Executions do not show it."""
    if "sync_execution" in _patched:
        return
    from moto import backend_index
    from moto.stepfunctions import urls
    from moto.stepfunctions.responses import StepFunctionResponse

    urls.url_bases.append(_SYNC_URL_BASE)  # the backend's own routes (BaseBackend.urls reads this list)
    backend_index.backend_url_patterns.append(("stepfunctions", re.compile(_SYNC_URL_BASE)))  # the host -> service
    StepFunctionResponse.start_sync_execution = _start_sync_execution  # type: ignore[attr-defined]
    _patched.add("sync_execution")


def _start_sync_execution(self: Any) -> Any:
    """StepFunctionResponse action: moto dispatches `AWSStepFunctions.StartSyncExecution` here by name."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import ValidationException
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    backend = self.stepfunction_backend
    if not isinstance(backend, StepFunctionsParserBackend):
        raise ValidationException(
            "StartSyncExecution needs moto's interpreter: {'stepfunctions': {'execute_state_machine': True}}"
        )
    return ActionResult(
        run_sync_execution(
            backend,
            self._get_param("stateMachineArn"),
            name=self._get_param("name"),
            execution_input=self._get_param("input", if_none="{}"),
            trace_header=self._get_param("traceHeader"),
        )
    )


def run_sync_execution(
    backend: Any, state_machine_arn: str, name: str | None, execution_input: str, trace_header: str | None = None
) -> dict[str, Any]:
    """Run one execution of an EXPRESS machine to its end; the StartSyncExecution response."""
    from moto.stepfunctions.exceptions import InvalidExecutionInput
    from moto.stepfunctions.models import StateMachineInstance
    from moto.stepfunctions.parser.api import StateMachineType
    from moto.stepfunctions.parser.backend.execution import SyncExecution

    machine = backend.describe_state_machine(state_machine_arn)
    if machine.type != StateMachineType.EXPRESS:
        raise _state_machine_type_not_supported()
    try:
        json.loads(execution_input)
    except ValueError as exc:
        raise InvalidExecutionInput(str(exc)) from exc

    # A snapshot, as moto's start_execution takes one: an update during the run must not change it.
    # moto hard-codes `sm_type = "STANDARD"` on every machine; the interpreter reads it, so correct it.
    snapshot = StateMachineInstance(
        arn=machine.arn, name=machine.name, definition=machine.definition, roleArn=machine.roleArn
    )
    snapshot.sm_type = StateMachineType.EXPRESS
    name = name or str(uuid.uuid4())
    execution = SyncExecution(
        name=name,
        sm_type=StateMachineType.EXPRESS,
        role_arn=machine.roleArn,
        exec_arn=f"arn:{backend.partition}:states:{backend.region_name}:{backend.account_id}:express:"
        f"{machine.name}:{name}:{uuid.uuid4()}",
        account_id=backend.account_id,
        region_name=backend.region_name,
        state_machine=snapshot,
        start_date=datetime.now(tz=UTC),
        cloud_watch_logging_session=None,
        activity_store={},
        input_data=execution_input,
        trace_header=trace_header,
    )
    execution.start()  # SyncExecutionWorker.start evaluates the program in this thread

    moto_output = execution.to_start_sync_execution_output()
    response: dict[str, Any] = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": machine.arn,
        "name": name,
        "startDate": execution.start_date,
        "stopDate": execution.stop_date,
        "status": str(execution.sync_execution_status.value),
        "input": moto_output["input"],
        "inputDetails": {"included": True},
        "billingDetails": _billing_details(execution, machine.definition, execution_input),
    }
    for key in ("output", "error", "cause", "traceHeader"):
        if moto_output.get(key) is not None:
            response[key] = moto_output[key]
    if "output" in response:
        response["outputDetails"] = {"included": True}
    return response


def _state_machine_type_not_supported() -> Exception:
    # moto's parser.api.StateMachineTypeNotSupported has no `TYPE`: its code would reach the client empty.
    from moto.stepfunctions.exceptions import AWSError

    return AWSError("This operation is not supported by this type of state machine", "StateMachineTypeNotSupported")


def _billing_details(execution: Any, definition: str, execution_input: str) -> dict[str, int]:
    duration_ms = (execution.stop_date - execution.start_date).total_seconds() * 1000
    # AWS bills the memory the definition and the execution data take; locally that is always one step.
    data_bytes = len(definition) + len(execution_input) + len(json.dumps(execution.output or ""))
    return {
        "billedMemoryUsedInMB": _BILLED_MEMORY_MB * max(1, math.ceil(data_bytes / (_BILLED_MEMORY_MB << 20))),
        "billedDurationInMilliseconds": _BILLED_DURATION_MS * max(1, math.ceil(duration_ms / _BILLED_DURATION_MS)),
    }


# ---------------------------------------------------------------- Step Functions: retry waits

RETRY_SCALE_ENV = "SAGA_LOCAL_RETRY_SCALE"


def retry_scale() -> float:
    """The factor every Retry wait is multiplied by: `SAGA_LOCAL_RETRY_SCALE`, 1 when unset.
    Read at each wait, so a test can set it with monkeypatch.setenv after the patch is in."""
    scale = float(os.environ.get(RETRY_SCALE_ENV) or 1)
    if not math.isfinite(scale) or scale < 0:
        raise ValueError(f"{RETRY_SCALE_ENV} must be a number >= 0, got {scale}")
    return scale


class _ScaledClock:
    """Stands in for the `time` module inside moto's retrier, whose only use of it is
    `time.sleep(interval)` once IntervalSeconds, BackoffRate, MaxDelaySeconds and jitter are applied.
    Scaling there keeps the ASL (and its time budget, checked by tests/statemachine) untouched."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def sleep(self, seconds: float) -> None:
        self._real.sleep(seconds * retry_scale())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def scale_retry_waits() -> None:
    """Make Step Functions Retry waits last `retry_scale()` times as long (unchanged by default)."""
    if "retry_scale" in _patched:
        return
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    retrier_decl.time = _ScaledClock(retrier_decl.time)  # type: ignore[attr-defined]
    _patched.add("retry_scale")


# ---------------------------------------------------------------- Step Functions: JSONPath results


def fix_definite_json_paths() -> None:
    """A definite JSONPath (only names and single literal indices, like `$[0].invoiceId` or
    `$.items[2].sku`) selects one value, and Step Functions gives that value. moto 5.2.5 wraps it in a
    list whenever an index precedes the last step (`extract_json`'s fix for getmoto/moto#7825, meant
    for filters), so a Parallel state's `"invoiceId.$": "$[0].invoiceId"` gives `["inv_..."]`.
    Definite paths get their single value; every other path keeps moto's handling."""
    if "json_path" in _patched:
        return
    from moto.stepfunctions.parser.asl.utils import json_path

    moto_extract_json = json_path.extract_json

    @wraps(moto_extract_json)
    def extract_json(path: str, data: Any) -> Any:
        expression = _parsed_json_path(path)
        if _is_definite(expression):
            matches = expression.find(data)
            if len(matches) == 1:
                return matches[0].value
        return moto_extract_json(path, data)

    # The interpreter's modules imported the function by name: rebind it where they hold it.
    json_path.extract_json = extract_json
    for module in list(sys.modules.values()):
        if getattr(module, "extract_json", None) is moto_extract_json:
            module.extract_json = extract_json
    _patched.add("json_path")


@cache
def _parsed_json_path(path: str) -> Any:
    from jsonpath_ng.ext import parse

    return parse(path)


def _is_definite(node: Any) -> bool:
    from jsonpath_ng.jsonpath import Child, Fields, Index, Root

    if isinstance(node, Root):
        return True
    if isinstance(node, Child):
        return _is_definite(node.left) and _is_definite(node.right)
    if isinstance(node, Fields):
        return len(node.fields) == 1 and node.fields[0] != "*"
    return isinstance(node, Index) and len(node.indices) == 1


# ---------------------------------------------------------------- X-Ray: traces through the state machine

_TRACE_HEADER = "X-Amzn-Trace-Id"
STATE_MACHINE_ORIGIN = "AWS::StepFunctions::StateMachine"
_MAX_CAUSE_CHARS = 1000  # a segment travels in one UDP datagram (64 KB at most)


@dataclass
class _ExecutionTrace:
    """A running execution's part in a trace."""

    trace_id: str
    segment_id: str  # the execution's segment: the parent of its Task subsegments
    sampled: bool
    # (state name, entered time) -> the subsegment id of that running Task state, its Lambda calls' Parent.
    tasks: dict[tuple[str, str], str] = field(default_factory=dict)

    def send(self, document: dict[str, Any]) -> None:
        if self.sampled:  # Sampled=0: the trace goes on downstream, but nothing is recorded
            send_segment(document)


_traced_executions: dict[str, _ExecutionTrace] = {}  # execution ARN -> its trace, while it runs
_traces_lock = threading.Lock()
# Each is set and read in one thread, around one synchronous call; see the wrappers below.
_request_trace_header: ContextVar[str | None] = ContextVar("start_sync_execution_trace_header", default=None)
_invoke_trace_header: ContextVar[str | None] = ContextVar("lambda_invoke_trace_header", default=None)
_Failure = tuple[str | None, str | None]  # (error, cause)
_caught_failures: ContextVar[list[_Failure] | None] = ContextVar("caught_task_failures", default=None)


def propagate_traces() -> None:
    """Step Functions in X-Ray traces. A StartSyncExecution that carries a trace header (the
    `X-Amzn-Trace-Id` HTTP header, or the `traceHeader` field, which wins) gets:
    - a segment for the execution: named after the state machine, origin AWS::StepFunctions::StateMachine,
      parent the header's Parent, error when FAILED, fault when TIMED_OUT, annotations executionArn, status;
    - a subsegment of it for each Task state run (all its attempts), error when the state failed, caught or
      not, sent on its own when the state ends;
    - Lambda invocations carrying `X-Amzn-Trace-Id: Root=<the trace>;Parent=<its Task's subsegment>`, which
      the Lambda hook hands the runner as `LambdaTarget.trace_header`.
    Documents go to the daemon at AWS_XRAY_DAEMON_ADDRESS. Without a header nothing changes.
    Enables StartSyncExecution."""
    if "traces" in _patched:
        return
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.backend.execution import SyncExecution
    from moto.stepfunctions.responses import StepFunctionResponse

    enable_start_sync_execution()
    StepFunctionResponse.start_sync_execution = _reading_trace_header(  # type: ignore[attr-defined]
        StepFunctionResponse.start_sync_execution  # type: ignore[attr-defined]
    )
    SyncExecution.start = _traced_execution(SyncExecution.start)  # type: ignore[method-assign,assignment]
    StateTask._eval_state = _traced_task(StateTask._eval_state)  # type: ignore[method-assign,assignment]
    StateTask._handle_catch = _recording_catch(StateTask._handle_catch)  # type: ignore[method-assign]
    # Both Lambda Task styles (a function ARN, arn:aws:states:::lambda:invoke) call this, with the Task's
    # environment, from the thread the attempt runs in: moto runs each attempt in a new thread, so the
    # Task is found from that environment's context object, not from the thread the state started in.
    lambda_eval_utils.execute_lambda_function_integration = _with_task_trace_header(
        lambda_eval_utils.execute_lambda_function_integration
    )
    lambda_eval_utils.boto_client_for = _sending_trace_header(lambda_eval_utils.boto_client_for)
    _patched.add("traces")


def _reading_trace_header(start_sync_execution: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The HTTP header is only on the request; the execution runs later in this same thread."""

    @wraps(start_sync_execution)
    def reading_trace_header(self: Any) -> Any:
        token = _request_trace_header.set(_header(self.headers, _TRACE_HEADER))
        try:
            return start_sync_execution(self)
        finally:
            _request_trace_header.reset(token)

    return reading_trace_header


def _traced_execution(start: Callable[[Any], None]) -> Callable[[Any], None]:
    @wraps(start)
    def traced_start(execution: Any) -> None:
        execution.trace_header = execution.trace_header or _request_trace_header.get()
        header = parse_trace_header(execution.trace_header)
        if "Root" not in header:
            start(execution)
            return
        trace = _ExecutionTrace(header["Root"], new_segment_id(), sampled=header.get("Sampled") != "0")
        with _traces_lock:
            _traced_executions[execution.exec_arn] = trace
        try:
            start(execution)  # a SyncExecution runs to its end in this thread
        finally:
            with _traces_lock:
                del _traced_executions[execution.exec_arn]
            trace.send(_execution_segment(execution, trace, parent_id=header.get("Parent")))

    return traced_start


def _execution_segment(execution: Any, trace: _ExecutionTrace, parent_id: str | None) -> dict[str, Any]:
    status = getattr(execution.sync_execution_status, "value", "FAILED")  # unset if the run itself broke
    failed, timed_out = status == "FAILED", status == "TIMED_OUT"
    extra: dict[str, Any] = {}
    if failed or timed_out:
        extra["cause"] = _cause(execution.error or ("States.Timeout" if timed_out else "States.Runtime"),
                                execution.cause)  # fmt: skip
    return segment(
        name=execution.state_machine.name, trace_id=trace.trace_id, id=trace.segment_id, parent_id=parent_id,
        start=execution.start_date.timestamp(), end=(execution.stop_date or datetime.now(tz=UTC)).timestamp(),
        origin=STATE_MACHINE_ORIGIN, error=failed, fault=timed_out,
        annotations={"executionArn": execution.exec_arn, "status": status}, **extra,
    )  # fmt: skip


def _traced_task(eval_state: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """Around a Task state's retry/catch loop: one subsegment for the state, all attempts included."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException

    @wraps(eval_state)
    def traced_eval_state(state: Any, env: Any) -> None:
        context = env.states.context_object.context_object_data
        with _traces_lock:
            trace = _traced_executions.get(context["Execution"]["Id"])
        if trace is None:
            eval_state(state, env)
            return
        key, segment_id, start = _task_key(context), new_segment_id(), time.time()
        with _traces_lock:
            trace.tasks[key] = segment_id
        caught: list[_Failure] = []
        token = _caught_failures.set(caught)
        failure: _Failure | None = None
        try:
            eval_state(state, env)
            failure = caught[-1] if caught else None
        except FailureEventException as exc:
            failure = exc.extract_error_cause_pair() or ("States.Runtime", None)
            raise
        except Exception as exc:
            failure = type(exc).__name__, str(exc)
            raise
        finally:
            _caught_failures.reset(token)
            with _traces_lock:
                trace.tasks.pop(key, None)
            extra: dict[str, Any] = {"cause": _cause(*failure)} if failure else {}
            trace.send(segment(
                name=state.name, trace_id=trace.trace_id, id=segment_id, type="subsegment",
                parent_id=trace.segment_id, start=start, end=time.time(), error=failure is not None, **extra,
            ))  # fmt: skip

    return traced_eval_state


def _recording_catch(handle_catch: Callable[..., None]) -> Callable[..., None]:
    """A matching Catch replaces the state's output (the error is left only where its ResultPath puts it):
    note the caught error, retries exhausted, for the Task's subsegment. Runs in traced_eval_state's thread."""
    from moto.stepfunctions.parser.asl.component.common.catch.catch_outcome import CatchOutcome
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException

    @wraps(handle_catch)
    def recording_catch(state: Any, env: Any, failure_event: Any) -> None:
        handle_catch(state, env=env, failure_event=failure_event)
        caught = _caught_failures.get()
        if caught is not None and env.stack and env.stack[-1] is CatchOutcome.Caught:
            caught.append(FailureEventException(failure_event).extract_error_cause_pair() or ("States.Runtime", None))

    return recording_catch


def _task_key(context: dict[str, Any]) -> tuple[str, str]:
    """A running state, told apart from another run of it (a loop; a Map's iterations) by its entered time."""
    state = context.get("State") or {}
    return state.get("Name", ""), state.get("EnteredTime", "")


def _with_task_trace_header(execute: Callable[..., None]) -> Callable[..., None]:
    @wraps(execute)
    def execute_lambda_function_integration(env: Any, *args: Any, **kwargs: Any) -> None:
        context = env.states.context_object.context_object_data
        with _traces_lock:
            trace = _traced_executions.get(context["Execution"]["Id"])
            parent = trace.tasks.get(_task_key(context), trace.segment_id) if trace else None
        header = format_trace_header(trace.trace_id, parent, trace.sampled) if trace else None
        # Read by _add_invoke_trace_header as the interpreter's client sends Invoke: in this thread, in this call.
        token = _invoke_trace_header.set(header)
        try:
            execute(env, *args, **kwargs)
        finally:
            _invoke_trace_header.reset(token)

    return execute_lambda_function_integration


def _sending_trace_header(boto_client_for: Callable[..., Any]) -> Callable[..., Any]:
    """The interpreter makes a new Lambda client per Task (about 8 ms of CPU each): keep one per region and
    role instead (clients are thread-safe), which adds the Task's trace header as it sends Invoke."""
    clients: dict[tuple[str, str, str | None], Any] = {}
    lock = threading.Lock()

    @wraps(boto_client_for)
    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, getattr(state_credentials, "role_arn", None))
        with lock:
            client = clients.get(key)
            if client is None:
                client = boto_client_for(region=region, service=service, state_credentials=state_credentials)
                client.meta.events.register("before-call.lambda.Invoke", _add_invoke_trace_header)
                clients[key] = client
        return client

    return client_for


def _add_invoke_trace_header(params: dict[str, Any], **_: Any) -> None:
    header = _invoke_trace_header.get()
    if header:
        params["headers"][_TRACE_HEADER] = header


def _cause(error: str | None, cause: str | None) -> dict[str, Any]:
    """X-Ray's `cause` for a Step Functions error. A Lambda error's cause is its whole error payload
    (stack trace included): its errorMessage is what a reader of the trace needs."""
    message = cause or ""
    try:
        payload = json.loads(message)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("errorMessage"), str):
        message = payload["errorMessage"]
    exception = {"id": new_segment_id(), "type": error or "Error", "message": message[:_MAX_CAUSE_CHARS]}
    return {"exceptions": [exception]}


def _header(headers: Any, name: str) -> str | None:
    """A request header, from whichever mapping moto passes (werkzeug's, botocore's, a dict), in any case."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if str(k).lower() == name.lower()), None)
    return str(value) if value else None


TIMEOUT_SCALE_ENV = "SAGA_LOCAL_TIMEOUT_SCALE"
_timeouts_scaled = False


def timeout_scale() -> float:
    """The factor every TimeoutSeconds is multiplied by: `SAGA_LOCAL_TIMEOUT_SCALE`, 1 when unset.
    Lambda runs each invocation on its own machine; the local stack runs them all on this one, so a
    load test on a small machine may give the emulated Tasks more time. Never used on AWS."""
    scale = float(os.environ.get(TIMEOUT_SCALE_ENV) or 1)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"{TIMEOUT_SCALE_ENV} must be a number > 0, got {scale}")
    return scale


def scale_timeouts() -> None:
    """Task and state machine TimeoutSeconds, scaled by `timeout_scale()` (read at each evaluation)."""
    global _timeouts_scaled
    if _timeouts_scaled:
        return
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    unscaled = TimeoutSeconds._eval_seconds

    def _eval_seconds(self: Any, env: Any) -> float:
        seconds = unscaled(self, env)
        return seconds if self.is_default_value() else seconds * timeout_scale()

    TimeoutSeconds._eval_seconds = _eval_seconds  # type: ignore[method-assign]
    _timeouts_scaled = True


# ---------------------------------------------------------------- Step Functions: parse a definition once


_parsed_programs: dict[str, Any] = {}  # definition -> the interpreter's program
_parsed_programs_lock = threading.Lock()
_PARSED_PROGRAMS_KEPT = 16


def parse_definitions_once() -> None:
    """moto parses the definition again for every execution (ANTLR: about 0.2 s of CPU for this project's
    saga, most of an order's time locally). An execution reuses the program parsed for the same definition:
    its components keep an execution's state in the execution's environment (its heap and stack), not in
    themselves, which is what lets moto run one program in many threads for a Map or Parallel state."""
    if "parse_once" in _patched:
        return
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    entrypoint = ExecutionWorker._get_evaluation_entrypoint

    @wraps(entrypoint)
    def parsed_once(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        with _parsed_programs_lock:
            program = _parsed_programs.get(definition)
        if program is None:
            program = entrypoint(self)
            with _parsed_programs_lock:
                _parsed_programs[definition] = program
                while len(_parsed_programs) > _PARSED_PROGRAMS_KEPT:
                    del _parsed_programs[next(iter(_parsed_programs))]
        return program

    ExecutionWorker._get_evaluation_entrypoint = parsed_once  # type: ignore[method-assign]
    _patched.add("parse_once")


# ---------------------------------------------------------------- Speed: what a server under load spends time on
# None of these changes what moto answers; tests in tests/local/test_moto_gaps.py check that they do not.

_ROUTED_BY_SIGNATURE = frozenset({"dynamodb", "sns", "sqs", "lambda", "states", "xray", "logs", "kms", "monitoring"})


def speed_up_server() -> None:
    """The moto server spends most of an order's CPU on per-request work that does not depend on the request:
    - finding the service by matching the request against every service's URL patterns, under one lock:
      remember the answer for signed requests to the services this stack uses, keyed by what decides it
      (the signature's service and region, and the X-Amz-Target prefix that tells DynamoDB Streams apart).
    - a TransactWriteItems deep-copies every table it touches, to roll back on failure: O(table) per
      transaction, so a long run slows down as tables grow. Copy the items it touches instead."""
    if "speed" in _patched:
        return
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    plain = DomainDispatcherApplication.get_application

    @wraps(plain)
    def get_application(self: Any, environ: dict[str, Any]) -> Any:
        key = _route_key(environ)
        if key is None:
            return plain(self, environ)
        routes = self.__dict__.setdefault("_routes_by_signature", {})
        app = routes.get(key)
        if app is None:
            app = routes[key] = plain(self, environ)
        return app

    DomainDispatcherApplication.get_application = get_application  # type: ignore[method-assign]
    _copy_only_transacted_items()
    _patched.add("speed")


def _route_key(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    path = environ.get("PATH_INFO", "")
    if not isinstance(path, str) or path.startswith(("/moto-api", "/latest/")):
        return None
    try:  # "AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders=..."
        _, _, region, service, _ = environ["HTTP_AUTHORIZATION"].split(",")[0].split()[1].split("/")
    except (KeyError, IndexError, ValueError):
        return None
    if service not in _ROUTED_BY_SIGNATURE:
        return None
    return region, service, environ.get("HTTP_X_AMZ_TARGET", "").split(".")[0]


_transaction = threading.local()  # set while a TransactWriteItems runs (DynamoDB requests run one at a time)


def _copy_only_transacted_items() -> None:
    import copy

    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class _TablesNotCopied:
        """`copy` as moto's DynamoDB backend module sees it: during a transaction, its per-table backup is
        the table itself (its "rollback" assigns the same table back), and the items are restored here."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if isinstance(value, Table) and getattr(_transaction, "active", False):
                return value
            return copy.deepcopy(value, memo)

    dynamodb_models.copy = _TablesNotCopied()  # type: ignore[attr-defined]
    transact = DynamoDBBackend.transact_write_items

    def snapshot(backend: Any, items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any, int]]:
        taken = []
        for item in items:
            operation = next(iter(item.values()), {})
            table = backend.tables.get(operation.get("TableName"))
            source = operation.get("Item") if "Item" in operation else operation.get("Key")
            if table is None or not isinstance(source, dict) or table.hash_key_attr not in source:
                continue  # moto rejects it before writing anything
            hash_key = DynamoType(source[table.hash_key_attr])
            range_key = DynamoType(source[table.range_key_attr]) if table.range_key_attr in source else None
            try:
                current = table.get_item(hash_key, range_key)
            except Exception:  # noqa: S112 - a malformed key: moto rejects it before writing anything
                continue
            shard = table.stream_shard
            taken.append((table, hash_key, range_key, copy.deepcopy(current), len(shard.items) if shard else 0))
        return taken

    def restore(taken: list[tuple[Any, Any, Any, Any, int]]) -> None:
        for table, hash_key, range_key, item, stream_length in reversed(taken):
            if range_key is not None:
                if item is None:
                    table.items[hash_key].pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = item
            elif item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
            if table.stream_shard is not None:  # a cancelled transaction leaves no stream record
                del table.stream_shard.items[stream_length:]

    @wraps(transact)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        taken = snapshot(self, transact_items)
        _transaction.active = True
        try:
            transact(self, transact_items)
        except BaseException:
            restore(taken)
            raise
        finally:
            _transaction.active = False

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def keep_parallel_branch_error_names() -> None:
    """A Parallel state whose branch fails with a `States.` error (a Task's States.Timeout, States.TaskFailed) crashes
    moto's interpreter: it re-raises the branch's error as a custom error name, which must not start with `States.`
    (ValueError), so the execution dies without running the Parallel's Catch, compensation included. Step Functions
    fails the Parallel with the branch's error, which `States.ALL` catches."""
    if "parallel_errors" in _patched:
        return
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl

    custom_error_name = branches_decl.CustomErrorName

    def error_name(error_name: str) -> Any:
        return _states_error_name(error_name) or custom_error_name(error_name=error_name)

    branches_decl.CustomErrorName = error_name  # type: ignore[misc,assignment]
    _patched.add("parallel_errors")


def close_all_gaps() -> None:
    """Every patch but the Lambda runner, which needs a runner to mean anything. Traces change nothing
    for a StartSyncExecution without a trace header."""
    serialize_dynamodb()
    enable_start_sync_execution()
    scale_retry_waits()
    scale_timeouts()
    fix_definite_json_paths()
    propagate_traces()
    parse_definitions_once()
    speed_up_server()
    keep_parallel_branch_error_names()


# ================================================================ Step Functions: mocked service integrations
# Step Functions Local's mock configuration file (MockConfigFile), read by moto's interpreter. One bounded
# section, owned by the state machine tests; its own tests are in tests/local/test_moto_mock_config.py.

MOCK_CONFIG_ENV = "SFN_MOCK_CONFIG"  # where Step Functions Local (and LocalStack) read the file's path from
_MOCK_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
_MOCKED_EXECUTIONS_KEPT = 256  # histories of the last mocked executions, for mocked_execution_history
_STATES_RUNTIME = "States.Runtime"


class MockConfigError(ValueError):
    """The mock configuration is not in Step Functions Local's format; the message names the place."""


@dataclass(frozen=True)
class MockConfig:
    """A valid mock configuration: `StateMachines: {machine: {TestCases: {case: {state: mocked response}}}}` and
    `MockedResponses: {mocked response: {"0": {"Return": ...}, "1-2": {"Throw": {"Error": ..., "Cause": ...}}}}`.
    The keys of a mocked response count a state's attempts (0 is the first, 1 its first retry...), and a Return
    is what the service integration answers: for a Lambda function, its Invoke response
    `{"StatusCode": 200, "Payload": <what the function returned>}`, of which the Task keeps `Payload`."""

    document: dict[str, Any]
    source: str = "<dict>"

    def test_cases(self, state_machine_name: str) -> dict[str, dict[str, str]]:
        """Test case name -> {state name: mocked response name}, for one state machine (empty if not configured)."""
        machine = self.document["StateMachines"].get(state_machine_name) or {"TestCases": {}}
        return {name: dict(states) for name, states in machine["TestCases"].items()}

    def test_case(self, state_machine_name: str, test_case_name: str) -> Any:
        """The test case as moto's interpreter takes it (`MockTestCase`), or None when not configured."""
        from moto.stepfunctions.parser.mocking.mock_config import MockTestCase, StateMockedResponses

        states = self.test_cases(state_machine_name).get(test_case_name)
        if states is None:
            return None
        return MockTestCase(
            state_machine_name=state_machine_name,
            test_case_name=test_case_name,
            state_mocked_responses_list=[
                StateMockedResponses(state, response, _mocked_responses(self.document["MockedResponses"][response]))
                for state, response in states.items()
            ],
        )


def load_mock_config(source: str | os.PathLike[str] | dict[str, Any]) -> MockConfig:
    """Read and check a mock configuration (a file path, or the document itself): every test case names
    mocked responses that exist, every mocked response counts attempts from 0 without gaps or overlaps, and
    each attempt either Returns or Throws (an Error, and optionally a Cause)."""
    if isinstance(source, dict):
        document, origin = source, "<dict>"
    else:
        origin = os.fspath(source)
        try:
            with open(origin, encoding="utf-8") as stream:
                document = json.load(stream)
        except (OSError, ValueError) as exc:
            raise MockConfigError(f"{origin}: {exc}") from exc
    _check_mock_config(document, origin)
    return MockConfig(document, origin)


def _check_mock_config(document: Any, origin: str) -> None:
    def fail(where: str, problem: str) -> MockConfigError:
        return MockConfigError(f"{origin}: {where}: {problem}")

    if not isinstance(document, dict) or set(document) - {"StateMachines", "MockedResponses"}:
        raise fail("top level", "an object with only StateMachines and MockedResponses")
    machines, responses = document.get("StateMachines"), document.get("MockedResponses")
    if not isinstance(machines, dict) or not isinstance(responses, dict):
        raise fail("top level", "StateMachines and MockedResponses must both be objects")
    for machine_name, machine in machines.items():
        if not isinstance(machine, dict) or not isinstance(machine.get("TestCases"), dict):
            raise fail(f"StateMachines.{machine_name}", "must be an object with a TestCases object")
        for case_name, states in machine["TestCases"].items():
            where = f"StateMachines.{machine_name}.TestCases.{case_name}"
            if not isinstance(states, dict):
                raise fail(where, "must map state names to mocked response names")
            for state, response in states.items():
                if not isinstance(response, str) or response not in responses:
                    raise fail(f"{where}.{state}", f"no mocked response named {response!r} in MockedResponses")
    for response_name, attempts in responses.items():
        where = f"MockedResponses.{response_name}"
        if not isinstance(attempts, dict) or not attempts:
            raise fail(where, 'must map attempt numbers ("0", "1-2"...) to a Return or a Throw')
        expected = 0
        for key, (first, last) in sorted(((key, _mock_range(key, where, fail)) for key in attempts), key=_by_first):
            if first != expected:
                raise fail(where, f'attempts must be numbered from 0 without gaps or overlaps: "{key}" starts at '
                                  f"{first}, expected {expected}")  # fmt: skip
            expected = last + 1
            outcome = attempts[key]
            if not isinstance(outcome, dict) or len(outcome) != 1 or next(iter(outcome)) not in ("Return", "Throw"):
                raise fail(f'{where}."{key}"', 'must be exactly one of {"Return": ...} or {"Throw": ...}')
            throw = outcome.get("Throw")
            if "Throw" in outcome and not (
                isinstance(throw, dict)
                and set(throw) <= {"Error", "Cause"}
                and isinstance(throw.get("Error"), str)
                and isinstance(throw.get("Cause", ""), str)
            ):
                raise fail(f'{where}."{key}".Throw', 'must be {"Error": <string>, "Cause": <string, optional>}')
            if "Throw" in outcome and _states_error_name(throw["Error"]) is False:
                raise fail(f'{where}."{key}".Throw', f"{throw['Error']} is not an error Step Functions has")


def _states_error_name(error: str) -> Any:
    """The interpreter's name for a `States.` error (its own type: a custom name may not start with `States.`),
    False for a `States.` name Step Functions does not have, None for a custom error name."""
    if not error.startswith("States."):
        return None
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName

    try:
        return StatesErrorName.from_name(error)
    except ValueError:
        return False


def _mock_range(key: str, where: str, fail: Callable[[str, str], MockConfigError]) -> tuple[int, int]:
    match = _MOCK_RANGE.fullmatch(key.strip())
    if not match:
        raise fail(where, f'"{key}" is not an attempt number ("0") or range ("1-2")')
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if last < first:
        raise fail(where, f'"{key}" is an empty range')
    return first, last


def _by_first(item: tuple[str, tuple[int, int]]) -> int:
    return item[1][0]


def _mocked_responses(attempts: dict[str, Any]) -> list[Any]:
    from moto.stepfunctions.parser.mocking.mock_config import MockedResponseReturn, MockedResponseThrow

    mocked = []
    for key, outcome in attempts.items():
        first, last = _mock_range(key, "", lambda where, problem: MockConfigError(problem))
        if "Return" in outcome:
            mocked.append(MockedResponseReturn(first, last, outcome["Return"]))
        else:
            throw = outcome["Throw"]
            mocked.append(MockedResponseThrow(first, last, throw["Error"], throw.get("Cause")))
    return mocked


_mock_config: MockConfig | None = None
_selected_test_case: ContextVar[Any] = ContextVar("selected_test_case", default=None)
_mocked_executions: dict[str, Any] = {}  # execution ARN -> its ExecutionWorker, oldest first
_mocked_executions_lock = threading.Lock()


def enable_mock_config(source: str | os.PathLike[str] | dict[str, Any] | MockConfig | None = None) -> MockConfig:
    """Mocked service integrations, as Step Functions Local offers them: an execution started (StartExecution or
    StartSyncExecution) with the state machine ARN suffixed `#<TestCase>` runs the test case of that machine's
    name in the mock configuration. Each Task state the test case names answers its mocked responses instead of
    calling the service, attempt by attempt (`"0"` first, then each retry); a mocked Throw is matched by Retry
    and Catch like the service's own error. A Task the test case does not name fails the execution with
    `States.Runtime` naming the state, and no Retry or Catch on `States.ALL` stops it (as on AWS): a mocked
    execution never calls a service by accident. Executions without the suffix are unchanged.

    `source` is a path, a document or a MockConfig; by default the path in SFN_MOCK_CONFIG, as Step Functions
    Local reads it. Returns the configuration, checked (MockConfigError names what is wrong). Process-wide, like
    moto's backends; `disable_mock_config()` removes it. Needs moto's interpreter
    (`{"stepfunctions": {"execute_state_machine": True}}`)."""
    global _mock_config
    if source is None:
        source = os.environ.get(MOCK_CONFIG_ENV) or None
        if source is None:
            raise MockConfigError(f"no mock configuration: pass one or set {MOCK_CONFIG_ENV} to its path")
    config = source if isinstance(source, MockConfig) else load_mock_config(source)
    enable_start_sync_execution()
    _install_mock_config_hooks()
    _mock_config = config
    return config


def disable_mock_config() -> MockConfig | None:
    """No mock configuration any more (a `#TestCase` ARN is then refused). Returns the one removed."""
    global _mock_config
    previous, _mock_config = _mock_config, None
    return previous


def load_mock_test_case_for(state_machine_name: str, test_case_name: str) -> Any:
    """moto's own hook (`moto.stepfunctions.parser.mocking.mock_config.load_mock_test_case_for`, a stub that
    always answers None), answered from the enabled configuration."""
    config = _mock_config
    return config.test_case(state_machine_name, test_case_name) if config is not None else None


def mocked_execution_history(execution_arn: str) -> list[dict[str, Any]]:
    """The history events (GetExecutionHistory's `events`, `type` a plain string) of a mocked execution that ran
    in this process, also a synchronous one, whose history AWS does not keep and moto does not either. Only the
    last few hundred mocked executions are kept."""
    with _mocked_executions_lock:
        worker = _mocked_executions.get(execution_arn)
    if worker is None:
        raise KeyError(f"no mocked execution {execution_arn} ran in this process (or it is too old)")
    events = worker.env.event_manager.get_event_history() if worker.env is not None else []
    return [{**event, "type": getattr(event["type"], "value", event["type"])} for event in events]


def _install_mock_config_hooks() -> None:
    if "mock_config" in _patched:
        return
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import mock_eval_utils
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.mocking import mock_config
    from moto.stepfunctions.responses import StepFunctionResponse

    mock_config.load_mock_test_case_for = load_mock_test_case_for
    mock_eval_utils._eval_mocked_response_throw = _mocked_throw
    for action in ("start_execution", "start_sync_execution"):
        setattr(StepFunctionResponse, action, _selecting_test_case(getattr(StepFunctionResponse, action)))
    ExecutionWorker.__init__ = _with_selected_test_case(ExecutionWorker.__init__)  # type: ignore[method-assign]
    parse_definitions_once()
    Environment.is_mocked_mode = _failing_unmocked_tasks(Environment.is_mocked_mode)  # type: ignore[method-assign]
    ErrorEqualsDecl._eval_body = _not_catching_runtime_errors(ErrorEqualsDecl._eval_body)  # type: ignore[method-assign]
    _patched.add("mock_config")


def _selecting_test_case(action: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A StepFunctionResponse action that takes `stateMachineArn`: `<arn>#<TestCase>` starts the machine `<arn>`
    with that test case, as Step Functions Local does."""

    @wraps(action)
    def start(self: Any) -> Any:
        arn = self._get_param("stateMachineArn")
        if not isinstance(arn, str) or "#" not in arn:
            return action(self)
        from moto.stepfunctions.exceptions import InvalidName

        machine_arn, test_case_name = arn.split("#", 1)
        machine = self.stepfunction_backend.describe_state_machine(machine_arn)
        test_case = load_mock_test_case_for(machine.name, test_case_name)
        if test_case is None:
            where = _mock_config.source if _mock_config is not None else f"no mock configuration ({MOCK_CONFIG_ENV})"
            raise InvalidName(f"Invalid mock test case name '{test_case_name}' for state machine '{machine.name}': "
                              f"not in {where}")  # fmt: skip
        get_param = self._get_param
        self._get_param = lambda name, *args, **kwargs: (
            machine_arn if name == "stateMachineArn" else get_param(name, *args, **kwargs)
        )
        token = _selected_test_case.set(test_case)
        try:
            return action(self)
        finally:
            _selected_test_case.reset(token)
            del self._get_param

    return start


def _with_selected_test_case(init: Callable[..., None]) -> Callable[..., None]:
    """moto builds every execution's worker without a test case: give it the one the start request selected."""

    @wraps(init)
    def init_with_test_case(self: Any, *args: Any, mock_test_case: Any = None, **kwargs: Any) -> None:
        mock_test_case = mock_test_case or _selected_test_case.get()
        init(self, *args, mock_test_case=mock_test_case, **kwargs)
        if mock_test_case is not None:
            with _mocked_executions_lock:
                _mocked_executions[self._evaluation_details.execution_details.arn] = self
                while len(_mocked_executions) > _MOCKED_EXECUTIONS_KEPT:
                    del _mocked_executions[next(iter(_mocked_executions))]

    return init_with_test_case


def _mocked_throw(env: Any, mocked_response: Any) -> None:
    """A mocked Throw fails the Task with its Error and Cause, as the service's own error would. moto's version
    makes every Error a custom name, which refuses `States.Timeout` (the attempt then fails with "Exception")."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error: str = mocked_response.error
    details = TaskFailedEventDetails(error=error)
    if mocked_response.cause is not None:
        details["cause"] = mocked_response.cause
    raise FailureEventException(
        FailureEvent(
            env=env,
            error_name=_states_error_name(error) or CustomErrorName(error),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=details),
        )
    )


def _failing_unmocked_tasks(is_mocked_mode: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """Asked by a Task state about to call its service. In a mocked execution, a Task without mocked responses
    raises States.Runtime instead of calling the service (Step Functions Local would call it)."""

    @wraps(is_mocked_mode)
    def mocked(self: Any) -> bool:
        if self.mock_test_case is None or is_mocked_mode(self):
            return self.mock_test_case is not None
        raise _unmocked_task(self)

    return mocked


def _unmocked_task(env: Any) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    test_case = env.mock_test_case
    cause = (
        f"Task state '{env.next_state_name}' has no mocked response in test case '{test_case.test_case_name}' "
        f"of state machine '{test_case.state_machine_name}': a mocked execution calls no service."
    )
    return FailureEventException(
        FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(error=_STATES_RUNTIME, cause=cause)
            ),
        )
    )


def _not_catching_runtime_errors(eval_body: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """Step Functions never retries or catches States.Runtime with States.ALL; moto does. In mocked executions
    (so an unmocked Task ends the test case loudly), States.ALL leaves States.Runtime alone."""

    @wraps(eval_body)
    def _eval_body(self: Any, env: Any) -> None:
        error = env.stack[-1] if env.stack else None
        if (
            env.mock_test_case is not None
            and getattr(error, "error_name", None) == _STATES_RUNTIME
            and not any(name.error_name == _STATES_RUNTIME for name in self.error_names)
        ):
            env.stack.pop()
            env.stack.append(False)
            return
        eval_body(self, env)

    return _eval_body


# ================================================================ end of the mocked service integrations section
