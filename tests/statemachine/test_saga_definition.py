"""The saga's ASL file: retries, compensation routes and the time budget, read from the file itself."""

from typing import Any

import pytest

from saga_local.stepfunctions import asl
from statemachine import steps as asl_steps

API_GATEWAY_INTEGRATION_TIMEOUT = 29
# The errors the handler tables declare final (test_handler_tables.py). A late forward step that finds its
# compensation's fence (ReservationReleased, PaymentCancelled, InvoiceVoided) is final too: the order is
# already being undone.
_RESOURCES = asl_steps.template()["Resources"]
BUSINESS_ERRORS = {
    error
    for function in set(asl_steps.function_of_substitution(_RESOURCES).values())
    for step in asl_steps.handler_steps(_RESOURCES, function).values()
    for error in step.no_retry
}
FORWARD_STEPS = [
    "CreateOrder",
    "ReserveInventory",
    "ChargePayment",
    "BillOrder",
    "ConfirmOrder",
]
COMPENSATIONS = ["VoidInvoice", "RefundPayment", "ReleaseInventory", "CloseOrder"]


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return asl.load()


@pytest.fixture(scope="module")
def tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {ref.name: ref.state for ref in asl.walk(definition) if ref.state["Type"] == "Task"}


def test_worst_case_duration_fits_the_api_gateway_integration_timeout(definition: dict[str, Any]) -> None:
    worst = asl.worst_case_seconds(definition)
    assert worst < API_GATEWAY_INTEGRATION_TIMEOUT, f"worst case {worst}s"
    assert worst < definition["TimeoutSeconds"] < API_GATEWAY_INTEGRATION_TIMEOUT


def test_worst_case_counts_every_attempt_and_backoff() -> None:
    """A Task with a 1 s timeout and 2 retries after 1 s then 2 s waits can take 3 + 1 + 2 s."""
    technical = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}
    business = {"ErrorEquals": ["X"], "MaxAttempts": 0}
    state = {"Type": "Task", "TimeoutSeconds": 1, "Retry": [business, technical | {"MaxDelaySeconds": 2}]}
    assert asl.worst_case_task_seconds(state) == 6
    catch = [{"ErrorEquals": ["States.ALL"], "Next": "C"}]
    states = {"A": state | {"Next": "B", "Catch": catch}, "B": {"Type": "Succeed"}, "C": state | {"End": True}}
    machine = {"StartAt": "A", "States": states}
    assert asl.worst_case_seconds(machine) == 12


def test_machine_is_jsonpath_only(definition: dict[str, Any]) -> None:
    """moto cannot run JSONata, and the local stack runs this very file."""
    assert definition.get("QueryLanguage", "JSONPath") == "JSONPath"
    assert all(ref.state.get("QueryLanguage", "JSONPath") == "JSONPath" for ref in asl.walk(definition))


def test_every_transition_names_a_state_of_its_scope(definition: dict[str, Any]) -> None:
    def check(machine: dict[str, Any]) -> None:
        names = set(machine["States"])
        assert machine["StartAt"] in names
        for name, state in machine["States"].items():
            for target in asl.successors(state):
                assert target in names, f"{name} -> {target}"
            for branch in state.get("Branches", []):
                check(branch)

    check(definition)


@pytest.mark.parametrize("step", FORWARD_STEPS + COMPENSATIONS)
def test_every_step_has_a_timeout_and_retries_technical_errors_with_capped_jittered_backoff(
    tasks: dict[str, dict[str, Any]], step: str
) -> None:
    state = tasks[step]
    assert 1 <= state["TimeoutSeconds"] <= 3
    technical = state["Retry"][-1]
    assert technical["ErrorEquals"] == ["States.ALL"]
    assert technical["MaxAttempts"] >= 1
    assert technical["BackoffRate"] > 1
    assert technical["MaxDelaySeconds"] >= technical["IntervalSeconds"]
    assert technical["JitterStrategy"] == "FULL"


def test_business_errors_are_never_retried(tasks: dict[str, dict[str, Any]]) -> None:
    for name, state in tasks.items():
        for retrier in state.get("Retry", []):
            if set(retrier["ErrorEquals"]) & BUSINESS_ERRORS:
                assert retrier["MaxAttempts"] == 0, name
                assert set(retrier["ErrorEquals"]) <= BUSINESS_ERRORS, name


def test_compensations_are_retried_harder_than_forward_steps(tasks: dict[str, dict[str, Any]]) -> None:
    forward = max(tasks[s]["Retry"][-1]["MaxAttempts"] for s in FORWARD_STEPS)
    assert min(tasks[s]["Retry"][-1]["MaxAttempts"] for s in COMPENSATIONS) > forward


def _reachable(definition: dict[str, Any], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += asl.successors(definition["States"][name])
    return seen


@pytest.mark.parametrize(
    ("step", "error", "undo"),
    [
        ("ReserveInventory", "OutOfStock", {"inventory": False, "payments": False, "billing": False}),
        ("ReserveInventory", "States.Timeout", {"inventory": True, "payments": False, "billing": False}),
        ("ChargePayment", "PaymentDeclined", {"inventory": True, "payments": False, "billing": False}),
        ("ChargePayment", "States.Timeout", {"inventory": True, "payments": True, "billing": False}),
        ("BillOrder", "States.Timeout", {"inventory": True, "payments": True, "billing": True}),
        ("ConfirmOrder", "States.Timeout", {"inventory": True, "payments": True, "billing": True}),
    ],
)
def test_a_failure_compensates_what_was_done_and_closes_the_order(
    definition: dict[str, Any], step: str, error: str, undo: dict[str, bool]
) -> None:
    """A failed step may have half-happened (a timeout after the write), so it is undone too."""
    states = definition["States"]
    catcher = next(c for c in states[step]["Catch"] if error in c["ErrorEquals"] or c["ErrorEquals"] == ["States.ALL"])
    assert catcher["ResultPath"] == "$.failure"
    flags = states[catcher["Next"]]
    assert flags["Result"] == undo
    assert {"Compensate", "CloseOrder"} <= _reachable(definition, catcher["Next"])


def test_compensations_cover_every_service_and_never_stop_each_other(definition: dict[str, Any]) -> None:
    compensate = definition["States"]["Compensate"]
    branch_tasks = []
    for branch in compensate["Branches"]:
        (task,) = [(n, s) for n, s in branch["States"].items() if s["Type"] == "Task"]
        name, state = task
        branch_tasks.append(name)
        assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], f"{name} failing would cancel its siblings"
    assert branch_tasks == ["VoidInvoice", "RefundPayment", "ReleaseInventory"], "reverse order of the forward steps"
    assert compensate["Next"] == "CloseOrder"


def test_failures_end_distinctly(definition: dict[str, Any]) -> None:
    fails = {s["Error"] for s in definition["States"].values() if s["Type"] == "Fail"}
    assert fails == {"SERVICE_UNAVAILABLE", "COMPENSATION_FAILED"}
    assert definition["States"]["CloseOrder"]["Catch"][0]["Next"] == "OrderNotClosed"
