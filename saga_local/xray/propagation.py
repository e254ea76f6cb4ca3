"""Step Functions in X-Ray traces, which moto's interpreter takes no part in.

A StartSyncExecution or StartExecution (asynchronous Express: its segment is sent when it ends) that carries a
trace header (the `X-Amzn-Trace-Id` HTTP header, or the `traceHeader` field, which wins) gets:
- a segment for the execution: named after the state machine, origin AWS::StepFunctions::StateMachine,
  parent the header's Parent, error when FAILED, fault when TIMED_OUT, annotations executionArn, status;
- a subsegment of it for each Task state run (all its attempts), error when the state failed, caught or
  not, sent on its own when the state ends;
- Lambda invocations carrying `X-Amzn-Trace-Id: Root=<the trace>;Parent=<its Task's subsegment>`, which
  the Lambda hook hands the runner as `LambdaTarget.trace_header`.
Documents go to the daemon at AWS_XRAY_DAEMON_ADDRESS. Without a header nothing changes.
"""

import json
import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace
from saga_local.stepfunctions.clients import IN_PROCESS_CLIENTS
from saga_local.stepfunctions.sync_execution import START_SYNC_EXECUTION
from saga_local.xray.segments import (
    TRACE_HEADER,
    format_trace_header,
    new_segment_id,
    parse_trace_header,
    segment,
    send_segment,
    trace_header_of,
)

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
    parent_id: str | None = None  # the caller's segment (an asynchronous execution's segment is sent at its end)

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


def _reading_trace_header(start: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The HTTP header is only on the request; the execution starts later in this same thread. moto's
    StartExecution drops the `traceHeader` field too: read here, it wins over the header as on AWS."""

    @wraps(start)
    def reading_trace_header(self: Any) -> Any:
        token = _request_trace_header.set(self._get_param("traceHeader") or trace_header_of(self.headers))
        try:
            return start(self)
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


def _traced_async_execution(start: Callable[[Any], None]) -> Callable[[Any], None]:
    """StartExecution (an asynchronous Express run, like the recovery sweep's): the run goes on in moto's worker
    thread after this returns, so its segment is sent when the worker ends (_ending_async_trace)."""
    from moto.stepfunctions.parser.backend.execution import SyncExecution

    @wraps(start)
    def traced_start(execution: Any) -> None:
        if isinstance(execution, SyncExecution):  # traced by _traced_execution
            start(execution)
            return
        execution.trace_header = execution.trace_header or _request_trace_header.get()
        header = parse_trace_header(execution.trace_header)
        if "Root" in header:
            trace = _ExecutionTrace(header["Root"], new_segment_id(), sampled=header.get("Sampled") != "0",
                                    parent_id=header.get("Parent"))  # fmt: skip
            with _traces_lock:
                _traced_executions[execution.exec_arn] = trace
        start(execution)

    return traced_start


def _ending_async_trace(terminated: Callable[[Any], None]) -> Callable[[Any], None]:
    from moto.stepfunctions.parser.backend.execution import SyncExecution

    @wraps(terminated)
    def ending_trace(comm: Any) -> None:
        terminated(comm)  # sets the execution's status, error and stop date
        execution = comm.execution
        if isinstance(execution, SyncExecution):
            return
        with _traces_lock:
            trace = _traced_executions.pop(execution.exec_arn, None)
        if trace is not None:
            trace.send(_execution_segment(execution, trace, parent_id=trace.parent_id))

    return ending_trace


def _execution_segment(execution: Any, trace: _ExecutionTrace, parent_id: str | None) -> dict[str, Any]:
    outcome = getattr(execution, "sync_execution_status", None) or execution.exec_status
    status = getattr(outcome, "value", "FAILED")  # unset if the run itself broke
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


def _running_trace(env: Any) -> tuple[_ExecutionTrace | None, tuple[str, str]]:
    context = env.states.context_object.context_object_data
    with _traces_lock:
        return _traced_executions.get(context["Execution"]["Id"]), _task_key(context)


def _traced_task(eval_state: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """Around a Task state's retry/catch loop: one subsegment for the state, all attempts included."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException

    @wraps(eval_state)
    def traced_eval_state(state: Any, env: Any) -> None:
        trace, key = _running_trace(env)
        if trace is None:
            eval_state(state, env)
            return
        segment_id, start = new_segment_id(), time.time()
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
        trace, key = _running_trace(env)
        header = None
        if trace is not None:
            with _traces_lock:
                parent = trace.tasks.get(key, trace.segment_id)
            header = format_trace_header(trace.trace_id, parent, trace.sampled)
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
        params["headers"][TRACE_HEADER] = header


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


def _changes() -> Sequence[Change]:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution, SyncExecution
    from moto.stepfunctions.responses import StepFunctionResponse

    responses: Any = StepFunctionResponse  # start_sync_execution is START_SYNC_EXECUTION's, unknown to mypy
    return [
        Replace(StepFunctionResponse, "start_sync_execution", _reading_trace_header(responses.start_sync_execution)),
        Replace(StepFunctionResponse, "start_execution", _reading_trace_header(responses.start_execution)),
        Replace(SyncExecution, "start", _traced_execution(SyncExecution.start)),
        Replace(Execution, "start", _traced_async_execution(Execution.start)),
        Replace(
            BaseExecutionWorkerCommunication,
            "terminated",
            _ending_async_trace(BaseExecutionWorkerCommunication.terminated),
        ),
        Replace(StateTask, "_eval_state", _traced_task(StateTask._eval_state)),
        Replace(StateTask, "_handle_catch", _recording_catch(StateTask._handle_catch)),
        # Both Lambda Task styles (a function ARN, arn:aws:states:::lambda:invoke) call this, with the Task's
        # environment, from the thread the attempt runs in: moto runs each attempt in a new thread, so the
        # Task is found from that environment's context object, not from the thread the state started in.
        Replace(
            lambda_eval_utils,
            "execute_lambda_function_integration",
            _with_task_trace_header(lambda_eval_utils.execute_lambda_function_integration),
        ),
        Replace(lambda_eval_utils, "boto_client_for", _sending_trace_header(lambda_eval_utils.boto_client_for)),
    ]


PROPAGATE_TRACES = Patch(
    name="xray-sfn-propagation",
    kind=Kind.GAP,
    replaces="moto.stepfunctions.parser (SyncExecution.start, Execution.start, StateTask._eval_state, "
    "lambda_eval_utils): no segments, no trace header on the Lambda invocations a Task makes; a new boto3 client "
    "per Task; StartExecution drops traceHeader",
    because="an order's trace must show the execution and each step between the API and the functions, as "
    "X-Ray shows Express executions with tracing on (the client reuse rides along: it is where the header "
    "is added)",
    changes=_changes,
    # IN_PROCESS_CLIENTS replaces boto_client_for outright: applied after this, it would drop the header.
    requires=(START_SYNC_EXECUTION, IN_PROCESS_CLIENTS),
)
