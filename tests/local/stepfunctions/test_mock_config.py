"""saga_local.stepfunctions.mock_config.enable_mock_config: Step Functions Local's mock configuration file
(MockConfigFile), read by moto's interpreter. Each behaviour on a small machine of its own; the saga's test cases
are in tests/statemachine."""

import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError

from saga_local.awslambda.invoke_hook import LambdaTarget, lambda_error, run_lambdas_with
from saga_local.core import patches
from saga_local.stepfunctions import mock_config as sfn_mocks
from saga_local.stepfunctions import timing
from saga_local.stepfunctions.inprocess import INTERPRETER_CONFIG
from saga_local.stepfunctions.mock_config import MockConfigError, load_mock_config
from tests.support.wait import wait_for

REGION = "us-east-1"
MACHINE = "Shop"


class OutOfStock(Exception):
    """A business error, as the saga's functions raise them."""


def invoked(payload: Any) -> dict[str, Any]:
    """A mocked Lambda answer: the Invoke response, of which a Task keeps the Payload."""
    return {"Return": {"StatusCode": 200, "Payload": payload}}


def thrown(error: str, cause: str | None = None) -> dict[str, Any]:
    return {"Throw": {"Error": error, **({"Cause": cause} if cause is not None else {})}}


def config(test_cases: dict[str, dict[str, Any]], responses: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A mock config document (test cases map state names to response names; the invalid ones, to anything)."""
    return {"StateMachines": {MACHINE: {"TestCases": test_cases}}, "MockedResponses": responses}


class Local:
    """moto with its interpreter: a function, machines named MACHINE (test cases belong to a machine name)."""

    def __init__(self) -> None:
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.role_arn = boto3.client("iam", region_name=REGION).create_role(
            RoleName="mock-config", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("app.py", "")
        self.function_arn = self.lambda_.create_function(
            FunctionName="reserve", Runtime="python3.13", Role=self.role_arn, Handler="app.handler",
            Code={"ZipFile": buffer.getvalue()},
        )["FunctionArn"]  # fmt: skip

    def machine(self, states: dict[str, Any], name: str = MACHINE) -> str:
        definition = {"StartAt": next(iter(states)), "States": states}
        return self.sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=self.role_arn, type="EXPRESS"
        )["stateMachineArn"]

    def task(self, style: str = "function ARN", **state: Any) -> dict[str, Any]:
        if style == "function ARN":
            return {"Type": "Task", "Resource": self.function_arn, **state}
        return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": self.function_arn, "Payload.$": "$"}, **state}  # fmt: skip

    def run(self, machine_arn: str, execution_input: Any = None) -> dict[str, Any]:
        result = self.sfn.start_sync_execution(stateMachineArn=machine_arn, input=json.dumps(execution_input or {}))
        return cast(dict[str, Any], result)  # the TypedDict, read as the plain dict the tests index


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[Local]:
    from moto import mock_aws

    monkeypatch.setenv(timing.RETRY_SCALE_ENV, "0.001")
    patches.apply_all()
    with mock_aws(config=INTERPRETER_CONFIG):
        yield Local()
    sfn_mocks.disable_mock_config()


@pytest.fixture
def calls() -> Iterator[list[Any]]:
    """The Lambda runner: records each invocation (the function's code) and raises OutOfStock."""
    made: list[Any] = []

    def runner(target: LambdaTarget, event: Any) -> tuple[Any, dict[str, Any] | None]:
        made.append(event)
        return None, lambda_error(OutOfStock("SKU-MUG: requested 2, available 1"))

    previous = run_lambdas_with(runner)
    yield made
    run_lambdas_with(previous)


def events(execution_arn: str, *kinds: str) -> list[dict[str, Any]]:
    return [event for event in sfn_mocks.mocked_execution_history(execution_arn) if event["type"] in kinds]


# ---------------------------------------------------------------------------------------------- the file


def test_a_valid_configuration_loads_from_a_path_or_from_sfn_mock_config(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = config({"Happy": {"Reserve": "Reserved"}}, {"Reserved": {"0": invoked({"ok": True})}})
    path = tmp_path / "MockConfigFile.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert load_mock_config(path).test_cases(MACHINE) == {"Happy": {"Reserve": "Reserved"}}
    monkeypatch.setenv(sfn_mocks.MOCK_CONFIG_ENV, str(path))
    try:
        assert sfn_mocks.enable_mock_config().source == str(path)
    finally:
        sfn_mocks.disable_mock_config()
    monkeypatch.delenv(sfn_mocks.MOCK_CONFIG_ENV)
    with pytest.raises(MockConfigError, match=sfn_mocks.MOCK_CONFIG_ENV):
        sfn_mocks.enable_mock_config()


@pytest.mark.parametrize(
    ("document", "names"),
    [
        ({"StateMachines": {}}, "top level"),
        ({"StateMachines": {}, "MockedResponses": {}, "Extra": {}}, "top level"),
        (config({"Happy": {"Reserve": "Missing"}}, {}), "TestCases.Happy.Reserve: no mocked response named 'Missing'"),
        (config({"Happy": {"Reserve": {"0": invoked(1)}}}, {}), "TestCases.Happy.Reserve: no mocked response named"),
        (config({}, {"R": {"0": invoked(1), "2": invoked(2)}}), 'MockedResponses.R: .*"2" starts at 2, expected 1'),
        (config({}, {"R": {"0-1": invoked(1), "1": invoked(2)}}), 'MockedResponses.R: .*"1" starts at 1, expected 2'),
        (config({}, {"R": {"1": invoked(1)}}), "expected 0"),
        (config({}, {"R": {"first": invoked(1)}}), '"first" is not an attempt number'),
        (config({}, {"R": {"2-1": invoked(1)}}), '"2-1" is an empty range'),
        (config({}, {"R": {"0": {**invoked(1), **thrown("E")}}}), 'MockedResponses.R."0": must be exactly one of'),
        (config({}, {"R": {"0": {"Throw": {"Cause": "no error"}}}}), 'MockedResponses.R."0".Throw'),
        (config({}, {"R": {}}), "MockedResponses.R: must map attempt numbers"),
        (config({}, {"R": {"0": thrown("States.Tiemout")}}), "States.Tiemout is not an error Step Functions has"),
    ],
)
def test_an_invalid_configuration_is_refused_naming_the_place(document: dict[str, Any], names: str) -> None:
    with pytest.raises(MockConfigError, match=names):
        load_mock_config(document)


def test_an_unreadable_file_is_refused(tmp_path: Any) -> None:
    path = tmp_path / "MockConfigFile.json"
    path.write_text('{"StateMachines": {}, // a comment\n "MockedResponses": {}}', encoding="utf-8")
    with pytest.raises(MockConfigError, match=str(path)):
        load_mock_config(path)


# ---------------------------------------------------------------------------------------------- executions


@pytest.mark.parametrize("style", ["function ARN", "lambda:invoke"])
def test_a_test_case_answers_the_mocked_return_and_calls_no_function(
    local: Local, calls: list[Any], style: str
) -> None:
    machine = local.machine({"Reserve": local.task(style, ResultPath="$.reservation", End=True)})
    reservation = {"reservationId": "res_1", "total": 4499, "currency": "EUR"}
    sfn_mocks.enable_mock_config(config({"Happy": {"Reserve": "Reserved"}}, {"Reserved": {"0": invoked(reservation)}}))
    result = local.run(f"{machine}#Happy", {"orderId": "ord_1"})
    assert result["status"] == "SUCCEEDED", result
    # A function ARN keeps the Payload, as it keeps what the function returns; lambda:invoke keeps the Invoke response.
    expected = reservation if style == "function ARN" else {"StatusCode": 200, "Payload": reservation}
    assert json.loads(result["output"]) == {"orderId": "ord_1", "reservation": expected}
    assert calls == []


def test_without_a_test_case_the_execution_calls_the_function(local: Local, calls: list[Any]) -> None:
    machine = local.machine({"Reserve": local.task(End=True)})
    sfn_mocks.enable_mock_config(config({"Happy": {"Reserve": "Reserved"}}, {"Reserved": {"0": invoked({})}}))
    result = local.run(machine, {"orderId": "ord_1"})
    assert (result["status"], result["error"]) == ("FAILED", "OutOfStock")
    assert calls == [{"orderId": "ord_1"}]


def test_a_mocked_throw_is_retried_and_caught_like_the_functions_own_error(local: Local, calls: list[Any]) -> None:
    """The same machine, once calling the function (which raises OutOfStock), once with the error mocked: the
    same retries, the same catch, the same {Error, Cause} where the Catch puts it."""
    machine = local.machine({
        "Reserve": local.task(Next="Done", Retry=[
            {"ErrorEquals": ["PaymentDeclined"], "MaxAttempts": 3},
            {"ErrorEquals": ["OutOfStock"], "MaxAttempts": 1, "IntervalSeconds": 1},
        ], Catch=[{"ErrorEquals": ["OutOfStock"], "ResultPath": "$.failure", "Next": "Rejected"}]),
        "Rejected": {"Type": "Pass", "End": True},
        "Done": {"Type": "Succeed"},
    })  # fmt: skip
    real = local.run(machine, {"orderId": "ord_1"})
    cause = json.dumps(lambda_error(OutOfStock("SKU-MUG: requested 2, available 1")))
    no_stock = {"NoStock": {"0-1": thrown("OutOfStock", cause)}}
    sfn_mocks.enable_mock_config(config({"OutOfStock": {"Reserve": "NoStock"}}, no_stock))
    mocked = local.run(f"{machine}#OutOfStock", {"orderId": "ord_1"})
    assert len(calls) == 2  # the real run's two attempts; the mocked one called nothing
    assert real["status"] == mocked["status"] == "SUCCEEDED"
    real_failure, mocked_failure = json.loads(real["output"])["failure"], json.loads(mocked["output"])["failure"]
    assert real_failure["Error"] == mocked_failure["Error"] == "OutOfStock"
    fields = ("errorMessage", "errorType")
    assert [json.loads(real_failure["Cause"])[f] for f in fields] == [
        json.loads(mocked_failure["Cause"])[f] for f in fields
    ]
    assert len(events(mocked["executionArn"], "LambdaFunctionScheduled")) == 2


def test_attempts_follow_the_numbered_responses(local: Local) -> None:
    """ "0", then "1-2" for the next two attempts, then "3": Step Functions Local's example, with its retries."""
    machine = local.machine(
        {"Reserve": local.task(End=True, Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}])}
    )
    sfn_mocks.enable_mock_config(config({"Retried": {"Reserve": "Flaky"}}, {"Flaky": {
        "0": thrown("Lambda.ResourceNotReadyException", "Lambda resource is not ready."),
        "1-2": thrown("Lambda.TimeoutException", "Lambda timed out."),
        "3": invoked({"reservationId": "res_1"}),
    }}))  # fmt: skip
    result = local.run(f"{machine}#Retried")
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"reservationId": "res_1"}
    failures = events(result["executionArn"], "TaskFailed")
    assert [event["taskFailedEventDetails"]["error"] for event in failures] == [
        "Lambda.ResourceNotReadyException", "Lambda.TimeoutException", "Lambda.TimeoutException",
    ]  # fmt: skip


def test_a_mocked_timeout_is_states_timeout(local: Local) -> None:
    machine = local.machine({
        "Reserve": local.task(End=True, TimeoutSeconds=1, Retry=[{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 1}],
                              Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Gave up"}]),
        "Gave up": {"Type": "Fail", "Error": "TimedOut"},
    })  # fmt: skip
    sfn_mocks.enable_mock_config(config({"Slow": {"Reserve": "Slow"}}, {"Slow": {"0-1": thrown("States.Timeout")}}))
    started = time.monotonic()
    result = local.run(f"{machine}#Slow")
    assert (result["status"], result["error"]) == ("FAILED", "TimedOut")
    assert len(events(result["executionArn"], "LambdaFunctionScheduled")) == 2  # retried by the States.Timeout rule
    assert time.monotonic() - started < 1  # mocked: nothing waited for the 1 s timeout


def test_a_task_the_test_case_does_not_mock_fails_the_execution_naming_it(local: Local, calls: list[Any]) -> None:
    """Even through Retry and Catch on States.ALL (Step Functions never matches States.Runtime with it)."""
    all_errors: dict[str, Any] = {"Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Compensate"}]}  # fmt: skip
    machine = local.machine({
        "Reserve": local.task(Next="Charge", **all_errors),
        "Charge": local.task(End=True, **all_errors),
        "Compensate": {"Type": "Pass", "End": True},
    })  # fmt: skip
    sfn_mocks.enable_mock_config(config({"Partial": {"Reserve": "Reserved"}}, {"Reserved": {"0": invoked({})}}))
    result = local.run(f"{machine}#Partial")
    assert (result["status"], result["error"]) == ("FAILED", "States.Runtime")
    assert "'Charge' has no mocked response in test case 'Partial'" in result["cause"]
    assert calls == []
    assert len(events(result["executionArn"], "LambdaFunctionScheduled")) == 2  # no retry of Charge


def test_an_unmocked_task_in_a_parallel_branch_fails_the_execution_too(local: Local, calls: list[Any]) -> None:
    machine = local.machine({"Bill": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Invoice", "States": {"Invoice": local.task(End=True)}},
        {"StartAt": "Ledger", "States": {"Ledger": local.task(End=True)}},
    ], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Undo"}]}, "Undo": {"Type": "Pass", "End": True}})  # fmt: skip
    sfn_mocks.enable_mock_config(config({"Partial": {"Invoice": "Issued"}}, {"Issued": {"0": invoked({})}}))
    result = local.run(f"{machine}#Partial")
    assert (result["status"], result["error"]) == ("FAILED", "States.Runtime")
    assert calls == []


def test_mocked_branches_of_a_parallel_state(local: Local) -> None:
    machine = local.machine({"Bill": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Invoice", "States": {"Invoice": local.task(End=True)}},
        {"StartAt": "Ledger", "States": {"Ledger": local.task(End=True)}},
    ]}})  # fmt: skip
    sfn_mocks.enable_mock_config(config(
        {"Billed": {"Invoice": "Issued", "Ledger": "Written"}},
        {"Issued": {"0": invoked({"invoiceId": "inv_1"})}, "Written": {"0": invoked({"entryId": "le_1"})}},
    ))  # fmt: skip
    result = local.run(f"{machine}#Billed")
    assert json.loads(result["output"]) == [{"invoiceId": "inv_1"}, {"entryId": "le_1"}]


def test_an_unknown_test_case_is_refused(local: Local) -> None:
    machine = local.machine({"Reserve": local.task(End=True)})
    sfn_mocks.enable_mock_config(config({"Happy": {"Reserve": "Reserved"}}, {"Reserved": {"0": invoked({})}}))
    with pytest.raises(ClientError) as raised:
        local.run(f"{machine}#Sad")
    assert raised.value.response["Error"]["Code"] == "InvalidName"
    assert "'Sad'" in raised.value.response["Error"]["Message"]
    sfn_mocks.disable_mock_config()
    with pytest.raises(ClientError, match="no mock configuration"):
        local.run(f"{machine}#Happy")


def test_test_cases_belong_to_the_state_machine_name(local: Local) -> None:
    other = local.machine({"Reserve": local.task(End=True)}, name="Other")
    sfn_mocks.enable_mock_config(config({"Happy": {"Reserve": "Reserved"}}, {"Reserved": {"0": invoked({})}}))
    with pytest.raises(ClientError, match="InvalidName"):
        local.run(f"{other}#Happy")


def test_start_execution_with_a_test_case_and_its_history(local: Local, calls: list[Any]) -> None:
    """Step Functions Local's own workflow: start-execution with `<arn>#<TestCase>`, then get-execution-history."""
    machine = local.machine({"Reserve": local.task(End=True)})
    sfn_mocks.enable_mock_config(config({"Happy": {"Reserve": "Reserved"}}, {"Reserved": {"0": invoked({"ok": 1})}}))
    execution_arn = local.sfn.start_execution(stateMachineArn=f"{machine}#Happy", input="{}")["executionArn"]

    def finished() -> Any:
        described = local.sfn.describe_execution(executionArn=execution_arn)
        return described if described["status"] != "RUNNING" else None

    described = wait_for(finished, timeout=10, interval=0.01, message="the execution to finish")
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"ok": 1})
    kinds = [event["type"] for event in local.sfn.get_execution_history(executionArn=execution_arn)["events"]]
    assert kinds[-1] == "ExecutionSucceeded"
    assert "LambdaFunctionSucceeded" in kinds
    assert calls == []


def test_repeated_mocked_executions_are_independent(local: Local) -> None:
    """Mocked executions of one definition share its parsed program: retry counters must not leak between them."""
    machine = local.machine(
        {"Reserve": local.task(End=True, Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}])}
    )
    sfn_mocks.enable_mock_config(config({"Once": {"Reserve": "FlakyOnce"}},
                                        {"FlakyOnce": {"0": thrown("Busy"), "1": invoked({"ok": 1})}}))  # fmt: skip
    results = [local.run(f"{machine}#Once") for _ in range(3)]
    assert [result["status"] for result in results] == ["SUCCEEDED"] * 3
    assert [len(events(result["executionArn"], "TaskFailed")) for result in results] == [1, 1, 1]


def test_the_history_of_an_execution_that_did_not_run_here_is_unknown() -> None:
    with pytest.raises(KeyError, match="no mocked execution"):
        sfn_mocks.mocked_execution_history("arn:aws:states:us-east-1:123456789012:express:Shop:x:y")
