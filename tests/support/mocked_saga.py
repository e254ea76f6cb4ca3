"""The order saga's ASL run by moto's interpreter with the mocked service integrations of
statemachine/order_saga.mock.json, each test case once (OUTCOMES), read the same way (Outcome), and what API
Gateway's response mapping answers for it: what tests/statemachine's path and coverage tests share."""

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

import boto3
import pytest
from moto.stepfunctions.parser.asl.component.intrinsic.function.statesfunction.unique_id_generation import (
    uuid as _uuid_function,  # States.UUID()
)

from saga_local.apigateway import Integration, load_integration, load_openapi, render, select_integration_response
from saga_local.awslambda.invoke_hook import LambdaTarget, run_lambdas_with
from saga_local.core import patches
from saga_local.stepfunctions import mock_config as sfn_mocks
from saga_local.stepfunctions import timing
from saga_local.stepfunctions.inprocess import INTERPRETER_CONFIG
from statemachine import asl
from tests.support.events import read_event
from tests.support.paths import ROOT

MOCK_CONFIG = ROOT / "statemachine" / "order_saga.mock.json"
STATE_MACHINE_NAME = "OrderSaga"  # test cases belong to a state machine name: create the machine with this one
REGION = "us-east-1"
ACCOUNT = "123456789012"
RETRY_SCALE = "0.001"  # SAGA_LOCAL_RETRY_SCALE: the 1-2 s backoffs of the ASL wait 1-2 ms

_POST = read_event("api-post-order.json")
KEY = _POST["headers"]["Idempotency-Key"]
CALLER = _POST["requestContext"]["identity"]["userArn"]
# IdentifyOrder names a new order from two States.UUID() (random): here the interpreter's UUIDs are this one, so the
# order id is known, and the mocks' stored orders and key record name the same id.
FIXED_UUID = "0b7e2c4a-6f1d-4e58-9a3c-2d5f8e1b7a90"
ORDER_ID = "ord_" + hashlib.sha256((FIXED_UUID + FIXED_UUID).encode()).hexdigest()
# A replay's execution draws another id than the one its key record names (ClaimIdempotencyKeyClaimedBefore).
NEXT_UUID = [FIXED_UUID]
# The execution input the API's request template makes of events/api-post-order.json.
EXECUTION_INPUT = {
    "idempotencyKey": KEY,
    "caller": CALLER,
    "requestId": _POST["requestContext"]["requestId"],
    "request": json.loads(_POST["body"]),
}
API_VALUES = {  # what the POST /orders integration's intrinsics resolve to
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "OrderSagaStateMachine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}",
    "ApiIntegrationRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/api-integration",
}

ATTEMPT_EVENTS = {"LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled"}
FAILURE_EVENTS = {
    "LambdaFunctionFailed", "LambdaFunctionTimedOut", "LambdaFunctionScheduleFailed", "LambdaFunctionStartFailed",
    "TaskFailed", "TaskTimedOut", "TaskSubmitFailed", "TaskStartFailed",
    "ActivityFailed", "ActivityTimedOut", "ActivityScheduleFailed",
}  # fmt: skip
UNCATCHABLE = {"States.Runtime", "States.DataLimitExceeded"}  # States.ALL never matches them
_BRANCH_SCOPE = re.compile(r"(?:.*/)?(?P<parallel>[^/]+)\[(?P<index>\d+)\]/")


# ---------------------------------------------------------------------------------------------- reading a history


def first_match(rules: list[dict[str, Any]], error: str) -> int | None:
    """The index of the first Retry or Catch rule that matches `error`, as Step Functions picks it."""
    for index, rule in enumerate(rules):
        names = rule["ErrorEquals"]
        if error in names or ("States.ALL" in names and error not in UNCATCHABLE):
            return index
    return None


@dataclass(frozen=True)
class Handling:
    """What a state's Retry and Catch rules did with its failed attempts."""

    retriers: tuple[int, ...]  # the Retry rule each failed attempt matched
    retried: int  # attempts that were retried
    catcher: int | None  # the Catch rule that caught the last failure
    uncaught: str | None  # the error that left the state because nothing caught it


def handling(state: dict[str, Any], errors: list[str]) -> Handling:
    retriers = state.get("Retry", [])
    used = [0] * len(retriers)
    matched: list[int] = []
    for position, error in enumerate(errors):
        index = first_match(retriers, error)
        if index is not None:
            matched.append(index)
            if used[index] < retriers[index].get("MaxAttempts", 3):
                used[index] += 1
                continue
        assert position == len(errors) - 1, f"an attempt followed a failure ({error}) that was not retried"
        catcher = first_match(state.get("Catch", []), error)
        return Handling(tuple(matched), sum(used), catcher, error if catcher is None else None)
    return Handling(tuple(matched), sum(used), None, None)


@dataclass
class StateRun:
    """One state as the history shows it: entered, its attempts (a Task's), the errors they failed with, exited."""

    name: str
    scope: str  # "" at the top level, "Compensate[0]/" in the first branch of Compensate (asl.walk's scopes)
    entered: int  # the id of its StateEntered event
    previous: int  # the event it follows: its predecessor's StateExited, or its Parallel's start
    exited: int | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """A StartSyncExecution response, with the history of that execution."""

    response: dict[str, Any]
    history: list[dict[str, Any]]
    functions_called: tuple[str, ...] = ()  # function code run by the execution: none, ever

    @cached_property
    def states(self) -> dict[str, asl.StateRef]:
        return {ref.name: ref for ref in asl.walk(asl.load())}

    @cached_property
    def runs(self) -> dict[str, StateRun]:
        """Every state entered, by name (names are unique across the whole machine, branches included)."""
        runs: dict[str, StateRun] = {}
        owner: dict[int, StateRun] = {}  # event id -> the state whose attempt it is part of
        for event in self.history:  # ids increase: an event's previous event is always read first
            kind, details = event["type"], _details(event)
            if kind.endswith("StateEntered"):
                name = details["name"]
                assert name not in runs, f"{name} entered twice: these tests expect a machine without loops"
                runs[name] = owner[event["id"]] = StateRun(
                    name, self.states[name].scope, event["id"], event.get("previousEventId", 0)
                )
            elif kind.endswith("StateExited"):
                runs[details["name"]].exited = event["id"]
            elif (run := owner.get(event.get("previousEventId", 0))) is not None:
                owner[event["id"]] = run
                run.attempts += kind in ATTEMPT_EVENTS
                if kind in FAILURE_EVENTS:
                    run.errors.append(details.get("error", ""))
        return runs

    def handling(self, name: str, states: dict[str, asl.StateRef] | None = None) -> Handling:
        """What the Retry and Catch rules of a state did in this execution (a Parallel: with its branches' error).
        The rules are those of the ASL file, or of `states` (another version of it)."""
        states = states or self.states
        state = states[name].state
        if state["Type"] == "Parallel":
            errors = [
                error for index in range(len(state["Branches"])) if (error := self.branch_error(name, index, states))
            ]
            return handling(state, errors[:1])
        return handling(state, self.runs[name].errors)

    def branch_error(self, parallel: str, index: int, states: dict[str, asl.StateRef] | None = None) -> str | None:
        """The error a branch of a Parallel state ended with, if it failed."""
        states = states or self.states
        scope = f"{states[parallel].scope}{parallel}[{index}]/"
        for run in self.in_scope(scope):
            state = states[run.name].state
            if state["Type"] == "Fail":
                return str(state.get("Error", "States.Runtime"))
            if state["Type"] in ("Task", "Parallel") and (uncaught := self.handling(run.name, states).uncaught):
                return uncaught
        return None

    def cut_short(self, name: str) -> bool:
        """Whether the state ran in a branch that was stopped because another branch of its Parallel failed: what it
        did then depends on timing (moto records the stop as a failed attempt with the error "Exception")."""
        branch = _BRANCH_SCOPE.fullmatch(self.runs[name].scope)
        if branch is None:
            return False
        parallel, index = branch.group("parallel"), int(branch.group("index"))
        branches = len(self.states[parallel].state["Branches"])
        failed = [self.branch_error(parallel, other) is not None for other in range(branches)]
        return any(failed) and not failed[index]

    def in_scope(self, scope: str) -> list[StateRun]:
        return sorted((run for run in self.runs.values() if run.scope == scope), key=lambda run: run.entered)

    def successor(self, name: str) -> str | None:
        """The state entered right after `name` left (a Catch's or a Choice's target, a Next)."""
        exited = self.runs[name].exited
        return next((run.name for run in self.runs.values() if exited is not None and run.previous == exited), None)

    @cached_property
    def path(self) -> tuple[str, ...]:
        return tuple(self._path(""))

    def _path(self, scope: str) -> Iterator[str]:
        for run in self.in_scope(scope):
            yield run.name
            state = self.states[run.name].state
            if state["Type"] == "Parallel":
                failed = [self.branch_error(run.name, index) is not None for index in range(len(state["Branches"]))]
                for index in range(len(state["Branches"])):
                    if failed[index] or not any(failed):
                        yield from self._path(f"{scope}{run.name}[{index}]/")

    @property
    def retries(self) -> dict[str, int]:
        return {
            name: run.attempts - 1 for name, run in self.runs.items() if run.attempts > 1 and not self.cut_short(name)
        }

    @property
    def status(self) -> str:
        return str(self.response["status"])

    @property
    def error(self) -> str | None:
        return self.response.get("error")

    @property
    def result(self) -> Any:
        """The output of a SUCCEEDED execution, the cause of a FAILED one; parsed when JSON."""
        text = self.response.get("output", self.response.get("cause"))
        try:
            return json.loads(text) if text is not None else None
        except ValueError:
            return text


def _details(event: dict[str, Any]) -> dict[str, Any]:
    return next((value for key, value in event.items() if key.endswith("EventDetails")), {})


# ---------------------------------------------------------------------------------------------- running a test case


class MockedSaga:
    """The saga's state machine in moto, created from the ASL file, run one test case at a time."""

    def __init__(self, sfn: Any, machine_arn: str, calls: list[str]) -> None:
        self.sfn = sfn
        self.machine_arn = machine_arn
        self.calls = calls

    def run(self, test_case: str) -> Outcome:
        """StartSyncExecution of `<machine ARN>#<test case>`, as Step Functions Local takes it."""
        called = len(self.calls)
        claim = mock_config()["StateMachines"][STATE_MACHINE_NAME]["TestCases"][test_case].get("ClaimIdempotencyKey")
        NEXT_UUID[0] = str(uuid.uuid4()) if claim == "ClaimIdempotencyKeyClaimedBefore" else FIXED_UUID
        response = self.sfn.start_sync_execution(
            stateMachineArn=f"{self.machine_arn}#{test_case}", input=json.dumps(execution_input(test_case))
        )
        history = sfn_mocks.mocked_execution_history(response["executionArn"])
        return Outcome(response, history, tuple(self.calls[called:]))


def execution_input(test_case: str) -> dict[str, Any]:
    """The API's input; a `Recovery...` test case runs as the recovery sweep starts it (with `recovery`)."""
    if test_case.startswith("Recovery"):
        recovery = {"orderId": ORDER_ID, "attempt": 1, "reason": "COMPENSATION_FAILED"}
        return {**EXECUTION_INPUT, "requestId": "sweep", "recovery": recovery}
    return EXECUTION_INPUT


OUTCOMES: dict[str, Outcome] = {}  # test case -> its execution: each runs once, whichever test asks first


def outcome(saga: MockedSaga, test_case: str) -> Outcome:
    if test_case not in OUTCOMES:
        OUTCOMES[test_case] = saga.run(test_case)
    return OUTCOMES[test_case]


def function_arns() -> dict[str, str]:
    """DefinitionSubstitutions for the ASL file: a function ARN for each `${...FunctionArn}`. The functions need
    not exist: a mocked Task never calls them."""
    return {
        name: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:order-saga-{name.removesuffix('FunctionArn').lower()}"
        for name in asl.substitution_names()
    }


@contextmanager
def mocked_saga() -> Iterator[MockedSaga]:
    """moto with its interpreter, the mock configuration file enabled, retry waits scaled down, and a Lambda runner
    that records (and fails) any invocation: no function code may run."""
    from moto import mock_aws

    calls: list[str] = []

    def no_function_code(target: LambdaTarget, event: Any) -> tuple[Any, dict[str, Any] | None]:
        calls.append(target.name)
        return None, {"errorType": "FunctionCodeRan", "errorMessage": f"{target.name} ran in a mocked test case"}

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv(timing.RETRY_SCALE_ENV, RETRY_SCALE)
        patches.apply_all()
        sfn_mocks.enable_mock_config(MOCK_CONFIG)
        previous = run_lambdas_with(no_function_code)
        patch.setattr(_uuid_function, "long_uid", lambda: NEXT_UUID[0])
        # The interpreter logs every Task error with its whole state; mocked errors are the point here.
        interpreter_log = logging.getLogger("moto.stepfunctions.parser")
        log_level = interpreter_log.level
        interpreter_log.setLevel(logging.CRITICAL)
        try:
            with mock_aws(config=INTERPRETER_CONFIG):
                sfn = boto3.client("stepfunctions", region_name=REGION)
                machine_arn = sfn.create_state_machine(
                    name=STATE_MACHINE_NAME,
                    definition=json.dumps(asl.load(substitutions=function_arns())),
                    roleArn=f"arn:aws:iam::{ACCOUNT}:role/order-saga-state-machine",
                    type="EXPRESS",
                )["stateMachineArn"]
                yield MockedSaga(sfn, machine_arn, calls)
        finally:
            interpreter_log.setLevel(log_level)
            run_lambdas_with(previous)
            sfn_mocks.disable_mock_config()


def mock_config() -> dict[str, Any]:
    return json.loads(MOCK_CONFIG.read_text(encoding="utf-8"))


def mock_test_cases() -> list[str]:
    return list(mock_config()["StateMachines"][STATE_MACHINE_NAME]["TestCases"])


def mocked_attempts(mocked_response: str) -> list[dict[str, Any]]:
    """A mocked response attempt by attempt: its "0", "1-2"... keys expanded."""
    attempts: dict[int, dict[str, Any]] = {}
    for key, answer in mock_config()["MockedResponses"][mocked_response].items():
        first, _, last = key.partition("-")
        attempts.update(dict.fromkeys(range(int(first), int(last or first) + 1), answer))
    return [attempts[number] for number in sorted(attempts)]


def returned(mocked_response: str) -> Any:
    """What a mocked response's first attempt returns: a Lambda function's Payload."""
    return mock_config()["MockedResponses"][mocked_response]["0"]["Return"]["Payload"]


def stored(mocked_response: str) -> Any:
    """The order a mocked getItem response finds: the item's `document`, the order's view as JSON text."""
    return json.loads(mock_config()["MockedResponses"][mocked_response]["0"]["Return"]["Item"]["document"]["S"])


# ---------------------------------------------------------------------------------------------- the API's answer


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


@cache
def post_orders() -> Integration:
    return load_integration(load_openapi(ROOT / "api" / "openapi.yaml"), "/orders", "POST", API_VALUES)


def api_answer(response: dict[str, Any]) -> Answer:
    """What POST /orders answers the client for this StartSyncExecution response (HTTP 200 whatever the outcome)."""
    integration = post_orders()
    selected = select_integration_response(integration.responses, 200)
    assert selected is not None
    fields = ("executionArn", "stateMachineArn", "name", "status", "output", "error", "cause")
    result = render(
        selected.templates["application/json"],
        body=json.dumps({name: response[name] for name in fields if name in response}),
        params={"header": {"Idempotency-Key": KEY}},
        context={"requestId": EXECUTION_INPUT["requestId"], "path": "/dev/orders"},
    )
    headers = {"Content-Type": "application/json", **result.header_overrides}
    return Answer(result.status_override or selected.status_code, headers, json.loads(result.body))
