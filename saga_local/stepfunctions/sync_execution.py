"""StartSyncExecution for EXPRESS state machines, which moto does not implement.

The execution runs in the request's thread with moto's interpreter (`SyncExecution`, which moto ships but
never calls) and the response has the AWS shape, billingDetails included. Like AWS, the execution is not
kept: Describe/ListExecutions do not show it.
"""

import json
import math
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from saga_local.core.patching import Append, Change, Kind, Patch, Replace

_finished_listeners: list[Callable[[Any], None]] = []
_listeners_lock = threading.Lock()

# boto3 sends StartSyncExecution to the host `sync-states.<region>.amazonaws.com` (an endpoint host
# prefix); moto routes only `states.`. Against a moto server, clients still need
# AWS_DISABLE_HOST_PREFIX_INJECTION=true, or they would resolve `sync-localhost`.
_SYNC_URL_BASE = r"https?://sync-states\.(.+)\.amazonaws.com"
_BILLED_DURATION_MS = 100  # Express duration is billed in 100 ms steps...
_BILLED_MEMORY_MB = 64  # ...and memory in 64 MB steps.


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
    from moto.stepfunctions.parser.api import StateMachineType
    from moto.stepfunctions.parser.backend.execution import SyncExecution

    machine = _express_machine(backend, state_machine_arn, execution_input)
    name = name or str(uuid.uuid4())
    execution = SyncExecution(
        name=name,
        sm_type=StateMachineType.EXPRESS,
        role_arn=machine.roleArn,
        exec_arn=f"arn:{backend.partition}:states:{backend.region_name}:{backend.account_id}:express:"
        f"{machine.name}:{name}:{uuid.uuid4()}",
        account_id=backend.account_id,
        region_name=backend.region_name,
        state_machine=_snapshot(machine),
        start_date=datetime.now(tz=UTC),
        cloud_watch_logging_session=None,
        activity_store={},
        input_data=execution_input,
        trace_header=trace_header,
    )
    execution.start()  # SyncExecutionWorker.start evaluates the program in this thread
    return _response(execution, machine, name, execution_input)


def _express_machine(backend: Any, state_machine_arn: str, execution_input: str) -> Any:
    from moto.stepfunctions.exceptions import InvalidExecutionInput
    from moto.stepfunctions.parser.api import StateMachineType

    machine = backend.describe_state_machine(state_machine_arn)
    if machine.type != StateMachineType.EXPRESS:
        raise _state_machine_type_not_supported()
    try:
        json.loads(execution_input)
    except ValueError as exc:
        raise InvalidExecutionInput(str(exc)) from exc
    return machine


def _snapshot(machine: Any) -> Any:
    """A copy, as moto's start_execution takes one: an update during the run must not change it."""
    from moto.stepfunctions.models import StateMachineInstance
    from moto.stepfunctions.parser.api import StateMachineType

    snapshot = StateMachineInstance(
        arn=machine.arn, name=machine.name, definition=machine.definition, roleArn=machine.roleArn
    )
    # moto hard-codes `sm_type = "STANDARD"` on every machine; the interpreter reads it, so correct it.
    snapshot.sm_type = StateMachineType.EXPRESS
    return snapshot


def _response(execution: Any, machine: Any, name: str, execution_input: str) -> dict[str, Any]:
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


def add_finished_listener(listener: Callable[[Any], None]) -> Callable[[], None]:
    """Call `listener(execution)` (moto's SyncExecution, its history in `exec_worker.env`) after each
    synchronous execution ends; returns its remover."""
    FINISHED_EXECUTION_HOOK.apply()
    with _listeners_lock:
        _finished_listeners.append(listener)

    def remove() -> None:
        with _listeners_lock:
            if listener in _finished_listeners:
                _finished_listeners.remove(listener)

    return remove


def _finished_hook_changes() -> Sequence[Change]:
    from moto.stepfunctions.parser.backend.execution import SyncExecution

    plain = SyncExecution.start

    @wraps(plain)
    def start(execution: Any) -> None:
        plain(execution)
        for listener in list(_finished_listeners):
            listener(execution)

    return [Replace(SyncExecution, "start", start)]


def _changes() -> Sequence[Change]:
    from moto import backend_index
    from moto.stepfunctions import urls
    from moto.stepfunctions.responses import StepFunctionResponse

    return [
        Append(urls.url_bases, _SYNC_URL_BASE),  # the backend's own routes (BaseBackend.urls reads this list)
        Append(backend_index.backend_url_patterns, ("stepfunctions", re.compile(_SYNC_URL_BASE))),  # host -> service
        Replace(StepFunctionResponse, "start_sync_execution", _start_sync_execution),
    ]


START_SYNC_EXECUTION = Patch(
    name="sfn-start-sync-execution",
    kind=Kind.GAP,
    replaces="moto.stepfunctions.responses.StepFunctionResponse: no start_sync_execution (404 in-process, "
    "500 from a server), and no route for the `sync-states.` host",
    because="API Gateway starts the saga with StartSyncExecution and maps its response (status, output, "
    "error) to the HTTP answer; needs moto's interpreter (execute_state_machine)",
    changes=_changes,
)
FINISHED_EXECUTION_HOOK = Patch(
    name="sfn-finished-execution-hook",
    kind=Kind.FEATURE,
    replaces="moto.stepfunctions.parser.backend.execution.SyncExecution.start: runs the execution, telling "
    "nobody when it ends",
    because="the cost meter counts state transitions and the log bytes of each Express execution from its "
    "history; applied by the first listener (Meter.install), a pass-through without one",
    changes=_finished_hook_changes,
    by_default=False,
)
