"""saga_local.stepfunctions.timing: Retry waits and TimeoutSeconds scaled by local settings only."""

import time
from typing import Any

import pytest

from saga_local.stepfunctions import timing
from tests.support.emulator import Behaviour, Local, lambda_task


def test_retry_scale_is_one_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(timing.RETRY_SCALE_ENV, raising=False)
    assert timing.retry_scale() == 1
    monkeypatch.setenv(timing.RETRY_SCALE_ENV, "-1")
    with pytest.raises(ValueError, match=timing.RETRY_SCALE_ENV):
        timing.retry_scale()


@pytest.mark.parametrize(
    "retrier",
    [
        {"IntervalSeconds": 2},  # waits 2 s * 0.25
        {"IntervalSeconds": 20, "MaxDelaySeconds": 2},  # capped at 2 s, * 0.25
    ],
    ids=["IntervalSeconds", "MaxDelaySeconds"],
)
def test_retry_waits_are_scaled_by_saga_local_retry_scale(
    local: Local, behaviour: Behaviour, monkeypatch: pytest.MonkeyPatch, retrier: dict[str, Any]
) -> None:
    arn = local.function("flaky")
    attempts: list[float] = []

    def flaky(event: Any) -> Any:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise TimeoutError("first attempt fails")
        return "ok"

    behaviour.functions["flaky"] = flaky
    machine = local.machine({"Flaky": lambda_task(arn, "function ARN", End=True, Retry=[
        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "JitterStrategy": "NONE", **retrier}]),
    })  # fmt: skip
    monkeypatch.setenv(timing.RETRY_SCALE_ENV, "0.25")
    result = local.run(machine)
    assert result["status"] == "SUCCEEDED", result
    wait = attempts[1] - attempts[0]
    assert 0.5 <= wait < 1.5, f"waited {wait:.2f} s, expected 2 s * 0.25"  # unscaled would be 2 s


def test_task_timeouts_are_scaled_by_saga_local_timeout_scale(
    local: Local, behaviour: Behaviour, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1 s Task timeout that a 1.5 s invocation exceeds, unless the timeout scale gives it 3 s."""
    arn = local.function("slow")

    def slow(event: Any) -> str:
        time.sleep(1.5)  # the behaviour under test: an invocation longer than the Task's 1 s timeout
        return "done"

    behaviour.functions["slow"] = slow
    machine = local.machine({"Slow": lambda_task(arn, "function ARN", End=True, TimeoutSeconds=1)})
    monkeypatch.delenv(timing.TIMEOUT_SCALE_ENV, raising=False)
    assert local.run(machine)["error"] == "States.Timeout"
    monkeypatch.setenv(timing.TIMEOUT_SCALE_ENV, "3")
    assert local.run(machine)["status"] == "SUCCEEDED"
