"""Step Functions Local's mock configuration file (MockConfigFile), read by moto's interpreter.

moto ships Step Functions Local's mocking code but stubs its loader: nothing reads SFN_MOCK_CONFIG or a
`#TestCase` suffix. This wires them up, checked, with two differences from Step Functions Local, both as
AWS would behave: a mocked Throw of a `States.` error is that error (not a custom one), and a Task the test
case does not mock fails with States.Runtime instead of calling the service. Its tests are in
tests/local/stepfunctions/test_mock_config.py.
"""

import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace
from saga_local.stepfunctions.errors import states_error_name
from saga_local.stepfunctions.parse_once import PARSE_DEFINITIONS_ONCE
from saga_local.stepfunctions.sync_execution import START_SYNC_EXECUTION

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
            if throw is not None and states_error_name(throw["Error"]) is False:
                raise fail(f'{where}."{key}".Throw', f"{throw['Error']} is not an error Step Functions has")


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
    from moto.stepfunctions.parser.mocking.mock_config import (
        MockedResponse,
        MockedResponseReturn,
        MockedResponseThrow,
    )

    mocked: list[MockedResponse] = []
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
    MOCK_CONFIG.apply()
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
            error_name=states_error_name(error) or CustomErrorName(error),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=details),  # type: ignore[typeddict-item]  # as in moto
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
            event_details=EventDetails(  # type: ignore[typeddict-item]  # total in moto, built with one key there too
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


def _passing_failure_events_on(
    from_error: Callable[[Any, Any, Exception], Any],
) -> Callable[[Any, Any, Exception], Any]:
    """moto's DynamoDB integration turns every exception that is not a ClientError into
    `DynamoDB.AmazonDynamoDBException`, a mocked Throw and the States.Runtime of an unmocked Task too (the other
    integrations pass such a failure on as it is, through ExecutionState._from_error): pass it on as they do."""

    @wraps(from_error)
    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException

        if isinstance(ex, FailureEventException):
            return ex.failure_event
        return from_error(self, env, ex)

    return _from_error


def _changes() -> Sequence[Change]:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import mock_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb import (
        StateTaskServiceDynamoDB,
    )
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.mocking import mock_config
    from moto.stepfunctions.responses import StepFunctionResponse

    responses: Any = StepFunctionResponse  # start_sync_execution is START_SYNC_EXECUTION's, unknown to mypy
    return [
        Replace(mock_config, "load_mock_test_case_for", load_mock_test_case_for),
        Replace(mock_eval_utils, "_eval_mocked_response_throw", _mocked_throw),
        Replace(StepFunctionResponse, "start_execution", _selecting_test_case(responses.start_execution)),
        Replace(StepFunctionResponse, "start_sync_execution", _selecting_test_case(responses.start_sync_execution)),
        Replace(ExecutionWorker, "__init__", _with_selected_test_case(ExecutionWorker.__init__)),
        Replace(Environment, "is_mocked_mode", _failing_unmocked_tasks(Environment.is_mocked_mode)),
        Replace(ErrorEqualsDecl, "_eval_body", _not_catching_runtime_errors(ErrorEqualsDecl._eval_body)),
        Replace(
            StateTaskServiceDynamoDB, "_from_error", _passing_failure_events_on(StateTaskServiceDynamoDB._from_error)
        ),
    ]


MOCK_CONFIG = Patch(
    name="sfn-mock-config",
    kind=Kind.FEATURE,
    replaces="moto.stepfunctions.parser.mocking.mock_config.load_mock_test_case_for: a stub answering None "
    "(and the `#TestCase` ARN suffix is refused)",
    because="tests/statemachine run each path of the real ASL with Step Functions Local's MockConfigFile; "
    "applied by enable_mock_config(), not by `up`",
    changes=_changes,
    requires=(START_SYNC_EXECUTION, PARSE_DEFINITIONS_ONCE),
    by_default=False,
)
