"""saga_local.awslambda.invoke_hook: every invocation moto makes reaches the runner, in Lambda's format."""

import json
from typing import Any

import pytest

from saga_local.awslambda.invoke_hook import LambdaTarget, run_lambdas_with
from saga_local.stepfunctions import timing
from tests.support.emulator import Behaviour, Local, OutOfStock, lambda_task


@pytest.mark.parametrize("payload", [{"a": [1, "x"]}, [1, 2], "text", 42, None])
def test_lambda_invoke_calls_the_runner_and_returns_its_json_payload(
    local: Local, behaviour: Behaviour, payload: Any
) -> None:
    arn = local.function("echo")
    behaviour.functions["echo"] = lambda event: payload
    response = local.lambda_.invoke(FunctionName="echo", Payload=json.dumps({"in": 1}))
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == payload
    assert behaviour.calls == [(LambdaTarget("echo", arn, timeout=7, memory_size=256), {"in": 1})]


def test_lambda_unhandled_exception_returns_lambdas_error_payload(local: Local, behaviour: Behaviour) -> None:
    local.function("reserve")

    def reserve(event: Any) -> Any:
        raise OutOfStock("sku-1: 0 available")

    behaviour.functions["reserve"] = reserve
    response = local.lambda_.invoke(FunctionName="reserve", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "OutOfStock"
    assert error["errorMessage"] == "sku-1: 0 available"
    assert any("in reserve" in frame for frame in error["stackTrace"])


def test_lambda_runner_that_raises_is_reported_as_a_function_error(local: Local) -> None:
    local.function("broken")

    def runner(target: LambdaTarget, event: Any) -> tuple[Any, dict[str, Any] | None]:
        raise LookupError(f"no code for {target.name}")

    previous = run_lambdas_with(runner)
    try:
        response = local.lambda_.invoke(FunctionName="broken", Payload=b"{}")
    finally:
        run_lambdas_with(previous)
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "LookupError"


@pytest.mark.parametrize("style", ["function ARN", "lambda:invoke"])
def test_step_functions_task_runs_the_runner(local: Local, behaviour: Behaviour, style: str) -> None:
    arn = local.function("double")
    behaviour.functions["double"] = lambda event: {"n": event["n"] * 2}
    machine = local.machine({"Double": lambda_task(arn, style, ResultPath="$.result", End=True)})
    result = local.run(machine, {"n": 21})
    assert result["status"] == "SUCCEEDED", result
    expected = {"n": 42} if style == "function ARN" else {"value": {"n": 42}}
    assert json.loads(result["output"]) == {"n": 21, "result": expected}


@pytest.mark.parametrize("style", ["function ARN", "lambda:invoke"])
def test_step_functions_retry_and_catch_match_the_exception_class_name(
    local: Local, behaviour: Behaviour, style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(timing.RETRY_SCALE_ENV, "0.01")
    arn = local.function("reserve")
    attempts: list[Any] = []

    def reserve(event: Any) -> Any:
        attempts.append(event)
        raise OutOfStock("sku-1: 0 available")

    behaviour.functions["reserve"] = reserve
    machine = local.machine({
        "Reserve": lambda_task(arn, style, Next="Done",
                         Retry=[{"ErrorEquals": ["PaymentDeclined"], "MaxAttempts": 3, "IntervalSeconds": 1},
                                {"ErrorEquals": ["OutOfStock"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                         Catch=[{"ErrorEquals": ["OutOfStock"], "ResultPath": "$.failure", "Next": "Caught"}]),
        "Caught": {"Type": "Pass", "End": True},
        "Done": {"Type": "Succeed"},
    })  # fmt: skip
    result = local.run(machine, {"orderId": "o-1"})
    assert result["status"] == "SUCCEEDED", result
    failure = json.loads(result["output"])["failure"]
    assert failure["Error"] == "OutOfStock"
    cause = json.loads(failure["Cause"])  # the error payload, as JSON text, as on AWS
    assert cause["errorType"] == "OutOfStock"
    assert cause["errorMessage"] == "sku-1: 0 available"
    assert len(attempts) == 2  # the first try and the one OutOfStock retry, not PaymentDeclined's three


def test_step_functions_uncaught_function_error_fails_the_execution_with_it(local: Local, behaviour: Behaviour) -> None:
    arn = local.function("charge")

    def charge(event: Any) -> Any:
        raise OutOfStock("no")

    behaviour.functions["charge"] = charge
    result = local.run(local.machine({"Charge": lambda_task(arn, "function ARN", End=True)}))
    assert result["status"] == "FAILED"
    assert result["error"] == "OutOfStock"
    assert json.loads(result["cause"])["errorMessage"] == "no"
