"""The recovery sweep's tests: the template's orders table (its Sweep index included) and a state machine whose
executions are only recorded (helpers: tests/support/sweep.py)."""

import json
from typing import Any

import boto3
import pytest

from tests.support.aws import REGION, LocalAws
from tests.support.sweep import Sweepable


@pytest.fixture
def sweepable(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Sweepable:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    role = "arn:aws:iam::123456789012:role/order-saga"
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    machine = sfn.create_state_machine(name="order-saga", definition=definition, roleArn=role)["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", machine)
    monkeypatch.setenv("SWEEP_INDEX", "Sweep")
    world = Sweepable(aws, sfn, machine)

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        world.calls.append((f"{model.service_model.service_name}.{model.name}", params))

    world.on("before-parameter-build", record)
    return world
