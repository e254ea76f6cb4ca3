"""saga_local.stepfunctions.sync_execution (and errors): StartSyncExecution as AWS answers it."""

import json
import time
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from saga_local.stepfunctions.inprocess import INTERPRETER_CONFIG
from saga_local.stepfunctions.sync_execution import START_SYNC_EXECUTION, add_finished_listener
from tests.support.aws import REGION
from tests.support.emulator import Behaviour, Local, lambda_task


def test_start_sync_execution_returns_succeeded_with_the_aws_response_shape(local: Local) -> None:
    machine = local.machine({"Greet": {"Type": "Pass", "Parameters": {"hello.$": "$.name"}, "End": True}})
    result = local.run(machine, {"name": "world"})
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"hello": "world"}
    assert json.loads(result["input"]) == {"name": "world"}
    assert result["stateMachineArn"] == machine
    assert result["executionArn"].startswith(machine.replace(":stateMachine:", ":express:") + ":")
    assert result["name"] in result["executionArn"]
    assert result["startDate"] <= result["stopDate"]
    assert result["billingDetails"] == {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": 100}
    assert "error" not in result


def test_finished_listeners_see_each_execution_until_removed(local: Local) -> None:
    """How the cost meter reads an execution's history (AWS keeps none for a synchronous one)."""
    machine = local.machine({"Greet": {"Type": "Pass", "End": True}})
    seen: list[str] = []
    remove = add_finished_listener(lambda execution: seen.append(execution.exec_arn))
    try:
        first = local.run(machine)["executionArn"]
    finally:
        remove()
    local.run(machine)
    assert seen == [first]


def test_start_sync_execution_returns_failed_with_error_and_cause(local: Local) -> None:
    machine = local.machine({"No": {"Type": "Fail", "Error": "SERVICE_UNAVAILABLE",
                                    "CausePath": "States.JsonToString($.why)"}})  # fmt: skip
    result = local.run(machine, {"why": {"code": "X"}})
    assert result["status"] == "FAILED"
    assert result["error"] == "SERVICE_UNAVAILABLE"
    assert json.loads(result["cause"]) == {"code": "X"}
    assert "output" not in result


def test_start_sync_execution_returns_timed_out(local: Local) -> None:
    machine = local.machine({"Wait": {"Type": "Wait", "Seconds": 5, "End": True}}, TimeoutSeconds=1)
    started = time.monotonic()
    result = local.run(machine)
    assert result["status"] == "TIMED_OUT"
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("error", ["States.Timeout", "BillingUnavailable"])
def test_a_parallel_branch_failing_with_any_error_is_caught_by_the_parallels_catch(
    local: Local, behaviour: Behaviour, error: str
) -> None:
    arn = local.function("bill")

    def bill(event: Any) -> Any:
        if error == "States.Timeout":
            time.sleep(1.5)  # the behaviour under test: past the Task's TimeoutSeconds
            return {}
        raise type(error, (Exception,), {})("billing is down")

    behaviour.functions["bill"] = bill
    branch = {"StartAt": "Bill", "States": {"Bill": lambda_task(arn, "function ARN", TimeoutSeconds=1, End=True)}}
    machine = local.machine({
        "Both": {"Type": "Parallel", "Branches": [branch], "ResultPath": "$.out",
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Pass", "End": True},
    })  # fmt: skip
    result = local.run(machine)
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["failure"]["Error"] == error


def test_start_sync_execution_is_refused_for_standard_machines(local: Local) -> None:
    machine = local.machine({"P": {"Type": "Pass", "End": True}}, machine_type="STANDARD")
    with pytest.raises(ClientError) as raised:
        local.run(machine)
    assert raised.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"


def test_start_sync_execution_works_against_a_moto_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients of a server must not prefix the host with `sync-` (it would not resolve)."""
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    START_SYNC_EXECUTION.apply()
    monkeypatch.setitem(default_user_config, "stepfunctions", INTERPRETER_CONFIG["stepfunctions"])
    monkeypatch.setenv("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        sfn = boto3.client("stepfunctions", region_name=REGION, endpoint_url=f"http://{host}:{port}")
        machine = sfn.create_state_machine(
            name="server-sync", roleArn="arn:aws:iam::123456789012:role/r", type="EXPRESS",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": True}}}),
        )["stateMachineArn"]  # fmt: skip
        result = sfn.start_sync_execution(stateMachineArn=machine, input="{}")
        assert (result["status"], result["output"]) == ("SUCCEEDED", "1")
    finally:
        requests.post(f"http://{host}:{port}/moto-api/reset", timeout=5)
        server.stop()
