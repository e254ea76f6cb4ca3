"""The saga's ASL file: retries, compensation routes and the time budget, read from the file itself."""

from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from statemachine import asl
from statemachine import steps as asl_steps
from tests.support import template

API_GATEWAY_INTEGRATION_TIMEOUT = 29
# The errors the handler tables declare final (test_handler_tables.py). A late forward step that finds its
# compensation's fence (ReservationReleased, PaymentCancelled, InvoiceVoided) is final too: the order is
# already being undone.
_RESOURCES = asl_steps.template()["Resources"]
# A DynamoDB write's failed condition is final too (statemachine/steps.py).
BUSINESS_ERRORS = {
    error
    for function in set(asl_steps.function_of_substitution(_RESOURCES).values())
    for step in asl_steps.handler_steps(_RESOURCES, function).values()
    for error in step.no_retry
} | {asl_steps.CONDITION_FAILED}
# The services' steps, in the order an order passes them (ReserveInventory, ChargePayment, ...), and their undos.
LAMBDA_STEPS = [task.name for task in template.forward_steps()]
SERVICES = [task.service for task in template.forward_steps()]  # the keys of the ASL's $.undo flags
FORWARD_STEPS = ["CreateOrder", *LAMBDA_STEPS, "ConfirmOrder"]
COMPENSATIONS = [*(task.name for task in template.compensations()), "CloseOrder"]


def undo_flags(done: int) -> dict[str, bool]:
    """The $.undo flags once the first `done` services' steps may have run."""
    return {service: index < done for index, service in enumerate(SERVICES)}


def undo_state(done: int) -> str:
    """The Pass state that sets those flags (UndoInventory for 1, ...)."""
    states = asl.load()["States"]
    [name] = [n for n, s in states.items() if s.get("ResultPath") == "$.undo" and s.get("Result") == undo_flags(done)]
    return name


# Technical errors that ran something (a timeout, a handler's error) are not retried here, for the time budget: each
# failure has its own recovery (test_a_step_without_retries_recovers). Some still retry fast rejections (throttles).
NOT_RETRIED = {
    # Whether the claim or the order's write landed is unknown: 503, and the client's retry with the same key reads
    # the order its key record names (or writes it, StoreClaimedOrder). No read here: the time budget (README).
    "ClaimIdempotencyKey": "OrderUnavailable",
    "CreateOrder": "OrderUnavailable",
    "StoreClaimedOrder": "OrderUnavailable",
    "FindExistingOrder": "OrderUnavailable",  # nothing was done: 503, retry with the same key
    # A forward Lambda step's Task timeout already holds a cold start: what was done is undone (itself included), and
    # the client's replay with the same key finds the order's outcome.
    **{step: undo_state(index + 1) for index, step in enumerate(LAMBDA_STEPS)},
    # A confirmation that landed is found by the claim's condition: 201, nothing undone.
    "ConfirmOrder": undo_state(len(SERVICES)),
    "FindUnconfirmedOrder": undo_state(len(SERVICES)),  # not knowing, undo: CloseOrder closes a CONFIRMED order too
    "ClaimCompensation": "Compensate",  # the mark could not be written: not knowing, undo (as before the claim)
    "FindConfirmedOrder": "Compensate",  # the order the claim refused cannot be read: not knowing, undo
    "CloseOrder": "OrderNotClosed",  # 500: someone looks
    "FindClosedOrder": "OrderNotClosed",  # 500: someone looks
}
# What Lambda or DynamoDB refuse without running anything: retried with jittered backoff, which is all they cost.
LAMBDA_THROTTLED = "Lambda.TooManyRequestsException"
DYNAMODB_THROTTLED = {
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.RequestLimitExceeded",
}
# The orchestrator's writes whose failure costs most retry DynamoDB's throttles: a refused confirmation undoes a paid
# order, a refused close leaves one for manual action. The others' failures have a cheap recovery (NOT_RETRIED).
DYNAMODB_THROTTLES_RETRIED = {"ConfirmOrder", "CloseOrder"}
IN_PROGRESS = "IdempotencyAlreadyInProgressError"  # Powertools' error, raised (not waited on) by the payments steps
# Lambda does not count an environment's init against the function's Timeout; a Task's timeout counts everything.
# What a cold start's init may take on AWS (docs/performance.md, Cold starts): the Task allows it over the function's
# Timeout, and a retry comes late enough that the attempt it follows has reached its own deadline even after an init
# this long.
INIT_ALLOWANCE = 1
SLOW_INIT = 2
# The longest path: the caller's Idempotency-Key is claimed and the order created (a replay's claim and read of its
# PENDING order take as long), ConfirmOrder finds the order
# closed meanwhile (a concurrent replay), the claim's condition fails and the order read is not CONFIRMED, everything
# is undone, and CloseOrder finds it closed too.
WORST_CASE_TASKS = [
    "ClaimIdempotencyKey",
    "CreateOrder",
    *LAMBDA_STEPS,
    "ConfirmOrder",
    "FindUnconfirmedOrder",
    "ClaimCompensation",
    "FindConfirmedOrder",
    "Compensate",
    "CloseOrder",
    "FindClosedOrder",
]


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return asl.load()


@pytest.fixture(scope="module")
def tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {ref.name: ref.state for ref in asl.walk(definition) if ref.state["Type"] == "Task"}


def test_worst_case_duration_fits_the_api_gateway_integration_timeout(definition: dict[str, Any]) -> None:
    worst, path = asl.worst_case(definition)
    assert worst < API_GATEWAY_INTEGRATION_TIMEOUT, f"worst case {worst}s: {' -> '.join(path)}"
    assert worst < definition["TimeoutSeconds"] < API_GATEWAY_INTEGRATION_TIMEOUT, f"worst case {worst}s: {path}"


def test_worst_case_follows_recoveries_back_into_the_saga(definition: dict[str, Any]) -> None:
    worst, path = asl.worst_case(definition)
    timed = [name for name in path if definition["States"][name]["Type"] in ("Task", "Parallel")]
    assert timed == WORST_CASE_TASKS
    assert worst == 27


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


def test_a_retrier_of_fast_rejections_costs_its_backoff_only() -> None:
    """A throttled attempt ran nothing and answered at once: only the waits count. Any other error may have taken the
    whole timeout, so the same retrier on States.ALL costs its attempts too."""
    throttles = {"ErrorEquals": [LAMBDA_THROTTLED, *sorted(asl.FAST_REJECTIONS - {LAMBDA_THROTTLED})],
                 "IntervalSeconds": 1, "MaxAttempts": 2, "MaxDelaySeconds": 1, "JitterStrategy": "FULL"}  # fmt: skip
    state = {"Type": "Task", "TimeoutSeconds": 2, "Retry": [throttles]}
    assert asl.worst_case_task_seconds(state) == 2 + 1 + 1
    state["Retry"] = [throttles | {"ErrorEquals": ["States.ALL"]}]
    assert asl.worst_case_task_seconds(state) == 3 * 2 + 1 + 1
    state["Retry"] = [throttles | {"ErrorEquals": [LAMBDA_THROTTLED, IN_PROGRESS]}]  # the in-progress attempt ran
    assert asl.worst_case_task_seconds(state) == 3 * 2 + 1 + 1


def test_shortest_first_wait() -> None:
    assert asl.shortest_first_wait({"ErrorEquals": ["X"], "IntervalSeconds": 2}) == 2
    assert asl.shortest_first_wait({"ErrorEquals": ["X"], "IntervalSeconds": 2, "MaxDelaySeconds": 1}) == 1
    assert asl.shortest_first_wait({"ErrorEquals": ["X"], "IntervalSeconds": 2, "JitterStrategy": "FULL"}) == 0


def test_worst_case_is_the_longest_path() -> None:
    """Of two recoveries, the slower is the worst case, named with its path."""
    task = {"Type": "Task", "TimeoutSeconds": 1}
    catch = [{"ErrorEquals": ["States.ALL"], "Next": "Read"}]
    states = {
        "Write": task | {"Next": "Done", "Catch": catch},
        "Read": task | {"Next": "Choose"},
        "Choose": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "Done"}],
                   "Default": "Resume"},
        "Resume": task | {"Next": "Done"},
        "Done": {"Type": "Succeed"},
    }  # fmt: skip
    assert asl.worst_case({"StartAt": "Write", "States": states}) == (3, ("Write", "Read", "Choose", "Resume", "Done"))


def _technical(state: dict[str, Any]) -> dict[str, Any] | None:
    """The Retrier for technical errors (States.ALL), None when the state does not retry them."""
    return next((retrier for retrier in state.get("Retry", []) if retrier["ErrorEquals"] == ["States.ALL"]), None)


def _retrier_for(state: dict[str, Any], error: str) -> dict[str, Any] | None:
    """The Retrier Step Functions uses for `error`: the first whose ErrorEquals names it or is States.ALL."""
    retriers = state.get("Retry", [])
    return next((r for r in retriers if error in r["ErrorEquals"] or r["ErrorEquals"] == ["States.ALL"]), None)


def _function_timeout(function: str) -> int:
    """The function's Timeout in template.yaml, or the Globals' (read with the project's template loader)."""
    template = asl_steps.template()
    properties = template["Resources"][function]["Properties"]
    return int(properties.get("Timeout", template["Globals"]["Function"]["Timeout"]))


LAMBDA_TASKS = {
    task.name: task
    for task in asl_steps.tasks(asl.load(), asl_steps.function_of_substitution(_RESOURCES))
}  # fmt: skip


def test_every_task_has_a_timeout(tasks: dict[str, dict[str, Any]]) -> None:
    for name, state in tasks.items():
        assert 1 <= state["TimeoutSeconds"] <= 3, name


def test_a_step_without_retries_recovers(tasks: dict[str, dict[str, Any]]) -> None:
    """Only these Tasks leave technical errors unretried, and each catches them into its recovery."""
    assert {name for name, state in tasks.items() if _technical(state) is None} == set(NOT_RETRIED)
    for name, recovery in NOT_RETRIED.items():
        catch_all = tasks[name]["Catch"][-1]
        assert (catch_all["ErrorEquals"], catch_all["Next"]) == (["States.ALL"], recovery), name


@pytest.mark.parametrize("step", sorted(LAMBDA_TASKS))
def test_every_lambda_task_holds_a_cold_start(tasks: dict[str, dict[str, Any]], step: str) -> None:
    """The Task's timeout is the function's Timeout plus an init: a cold start's first attempt is not cut short, and an
    attempt the Task abandons has reached the function's deadline, where Powertools' in-progress record expires."""
    timeout = _function_timeout(LAMBDA_TASKS[step].function)
    assert tasks[step]["TimeoutSeconds"] >= timeout + INIT_ALLOWANCE, step


@pytest.mark.parametrize("step", sorted(LAMBDA_TASKS))
def test_a_retry_after_a_timeout_comes_after_the_abandoned_attempts_deadline(
    tasks: dict[str, dict[str, Any]], step: str
) -> None:
    """Even after a slow init (SLOW_INIT), the attempt a timed-out Task abandoned is past its deadline when the retry
    starts: the Task's timeout plus the retrier's least wait (a jittered wait can be 0) cover init and Timeout."""
    retrier = _retrier_for(tasks[step], "States.Timeout")
    if retrier is None or retrier["MaxAttempts"] == 0:
        return  # a timeout is not retried
    timeout = _function_timeout(LAMBDA_TASKS[step].function)
    assert tasks[step]["TimeoutSeconds"] + asl.shortest_first_wait(retrier) >= SLOW_INIT + timeout, step


@pytest.mark.parametrize("step", [name for name, task in LAMBDA_TASKS.items() if task.function == "PaymentsFunction"])
def test_the_payments_steps_wait_out_an_attempt_in_progress(tasks: dict[str, dict[str, Any]], step: str) -> None:
    """Powertools raises IdempotencyAlreadyInProgressError at once, it does not wait. The record of the attempt in
    progress expires at that invocation's deadline, at most the function's Timeout after it began: the retry waits that
    long, without jitter, so it finds the other attempt's answer (or its record expired) instead of compensating."""
    assert IdempotencyAlreadyInProgressError.__name__ == IN_PROGRESS  # the errorType Lambda reports for it
    retrier = _retrier_for(tasks[step], IN_PROGRESS)
    assert retrier is not None, step
    assert retrier["MaxAttempts"] >= 1, step
    assert asl.shortest_first_wait(retrier) >= _function_timeout(LAMBDA_TASKS[step].function), step


@pytest.mark.parametrize("step", sorted(LAMBDA_TASKS))
def test_every_lambda_task_retries_throttles_with_jittered_backoff(tasks: dict[str, dict[str, Any]], step: str) -> None:
    """A burst beyond the functions' concurrency is refused with TooManyRequestsException, nothing run: retried, with
    FULL jitter where the retrier is for throttles only, so that refused executions do not come back all at once."""
    retrier = _retrier_for(tasks[step], LAMBDA_THROTTLED)
    assert retrier is not None, step
    assert retrier["MaxAttempts"] >= 1, step
    if retrier["ErrorEquals"] != ["States.ALL"]:
        assert retrier["ErrorEquals"] == [LAMBDA_THROTTLED], step
        assert retrier["JitterStrategy"] == "FULL", step


@pytest.mark.parametrize("step", sorted(task.name for task in asl_steps.dynamodb_tasks(asl.load())))
def test_the_order_records_writes_retry_throttles_where_their_failure_costs_most(
    tasks: dict[str, dict[str, Any]], step: str
) -> None:
    retriers = [r for r in tasks[step].get("Retry", []) if r["MaxAttempts"] > 0]
    if step not in DYNAMODB_THROTTLES_RETRIED:
        assert retriers == [], step
        return
    (throttles,) = retriers
    assert set(throttles["ErrorEquals"]) == DYNAMODB_THROTTLED, step
    assert throttles["JitterStrategy"] == "FULL", step


@pytest.mark.parametrize("step", [s for s in FORWARD_STEPS if s in LAMBDA_TASKS])
def test_a_forward_step_retries_only_what_did_not_run(tasks: dict[str, dict[str, Any]], step: str) -> None:
    """Its Task timeout holds a cold start, so a timeout or a handler's error is not retried (it compensates): only
    throttles, and (payments) a duplicate's attempt in progress, which this attempt did not run either."""
    for retrier in tasks[step]["Retry"]:
        if retrier["MaxAttempts"] > 0:
            assert set(retrier["ErrorEquals"]) <= asl.FAST_REJECTIONS | {IN_PROGRESS}, step


def test_business_errors_are_never_retried(tasks: dict[str, dict[str, Any]]) -> None:
    for name, state in tasks.items():
        for retrier in state.get("Retry", []):
            if set(retrier["ErrorEquals"]) & BUSINESS_ERRORS:
                assert retrier["MaxAttempts"] == 0, name
                assert set(retrier["ErrorEquals"]) <= BUSINESS_ERRORS, name


def test_compensations_are_retried_harder_than_forward_steps(tasks: dict[str, dict[str, Any]]) -> None:
    """The services' compensations, that is: they retry any error (a forward step none that ran), so a compensation
    that failed once is not left for manual action. CloseOrder, the orchestrator's own write, retries as ConfirmOrder
    does (DynamoDB's throttles)."""
    assert all(_technical(tasks[s]) is None for s in FORWARD_STEPS)
    for step in COMPENSATIONS:
        if step == "CloseOrder":
            continue
        technical = _technical(tasks[step])
        assert technical is not None, step
        assert technical["MaxAttempts"] >= 1, step
    close = [r["ErrorEquals"] for r in tasks["CloseOrder"]["Retry"] if r["MaxAttempts"]]
    assert close == [r["ErrorEquals"] for r in tasks["ConfirmOrder"]["Retry"] if r["MaxAttempts"]]


def test_the_order_records_writes_retry_within_a_second(tasks: dict[str, dict[str, Any]]) -> None:
    """A DynamoDB call takes milliseconds: its backoff is capped at the shortest wait ASL allows."""
    for task in asl_steps.dynamodb_tasks(asl.load()):
        for retrier in tasks[task.name].get("Retry", []):
            if retrier["MaxAttempts"] > 0:
                assert (retrier["IntervalSeconds"], retrier["MaxDelaySeconds"]) == (1, 1), task.name


@pytest.mark.parametrize(
    ("step", "recovery", "result_path"),
    [
        ("ConfirmOrder", "FindUnconfirmedOrder", "$.failure"),
        ("ClaimCompensation", "FindConfirmedOrder", "$.claimFailure"),
        ("CloseOrder", "FindClosedOrder", "$.closeFailure"),
    ],
)
def test_a_failed_condition_reads_the_order_as_it_is(
    definition: dict[str, Any], tasks: dict[str, dict[str, Any]], step: str, recovery: str, result_path: str
) -> None:
    """The record was not in the state the write expects: a replay, a concurrent execution, or this step's own earlier
    attempt changed it. The step reads it (consistently) and goes on from what it finds."""
    catcher = next(
        c for c in tasks[step]["Catch"] if {asl_steps.CONDITION_FAILED, "States.ALL"} & set(c["ErrorEquals"])
    )
    assert (catcher["ResultPath"], catcher["Next"]) == (result_path, recovery)
    assert tasks[recovery]["Resource"] == "arn:aws:states:::dynamodb:getItem"
    assert tasks[recovery]["Parameters"]["ConsistentRead"] is True
    if step in ("ClaimCompensation", "CloseOrder"):
        assert result_path != "$.failure", "the failure being compensated decides the outcome"


def _reachable(definition: dict[str, Any], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += asl.successors(definition["States"][name])
    return seen


@pytest.mark.parametrize(
    ("step", "error", "done"),
    [
        ("ReserveInventory", "OutOfStock", 0),  # a refusal did nothing
        ("ChargePayment", "PaymentDeclined", 1),
        # A timeout may have half-happened (after the write): the step is undone too, with every step before it.
        *((step, "States.Timeout", index + 1) for index, step in enumerate(LAMBDA_STEPS)),
        ("ConfirmOrder", "States.Timeout", len(SERVICES)),
    ],
)
def test_a_failure_compensates_what_was_done_and_closes_the_order(
    definition: dict[str, Any], step: str, error: str, done: int
) -> None:
    """A failed step may have half-happened (a timeout after the write), so it is undone too."""
    undo = undo_flags(done)
    states = definition["States"]
    catcher = next(c for c in states[step]["Catch"] if error in c["ErrorEquals"] or c["ErrorEquals"] == ["States.ALL"])
    assert catcher["ResultPath"] == "$.failure"
    flags = states[catcher["Next"]]
    assert flags["Result"] == undo
    assert {"Compensate", "CloseOrder"} <= _reachable(definition, catcher["Next"])


def test_every_compensation_is_claimed_first(definition: dict[str, Any]) -> None:
    """A failing execution marks the order before undoing anything, unless it is CONFIRMED (a duplicate execution of
    the same request confirmed it: that outcome stands, 201), and a marked order can no longer be confirmed."""
    states = definition["States"]
    undo = [name for name, state in states.items() if state.get("ResultPath") == "$.undo"]
    assert sorted(undo) == sorted(
        {"NothingToUndo", "RetryCompensation"} | {undo_state(n + 1) for n in range(len(SERVICES))}
    )
    # The recovery sweep's retry of a COMPENSATION_FAILED order needs no claim: it can no longer be confirmed.
    assert {states[name]["Next"] for name in undo if name != "RetryCompensation"} == {"ClaimCompensation"}
    assert [name for name, state in states.items() if "Compensate" in asl.successors(state)] == [
        "RetryCompensation",
        "ClaimCompensation",
        "FindConfirmedOrder",
        "ConfirmedBeforeCompensation",
    ]
    claim = states["ClaimCompensation"]["Parameters"]
    assert claim["UpdateExpression"] == "SET #compensatingSince = if_not_exists(#compensatingSince, :now)"
    assert claim["ConditionExpression"] == "attribute_exists(orderId) AND #status <> :confirmed"
    assert claim["ExpressionAttributeValues"][":confirmed"] == {"S": "CONFIRMED"}
    assert "attribute_not_exists(#compensatingSince)" in states["ConfirmOrder"]["Parameters"]["ConditionExpression"]
    assert states["ConfirmedBeforeCompensation"]["Choices"] == [
        {"Variable": "$.stored.order.status", "StringEquals": "CONFIRMED", "Next": "ResumeConfirmedOrder"}
    ]
    assert _reachable(definition, "ResumeConfirmedOrder") == {"ResumeConfirmedOrder", "OrderConfirmed"}


def test_compensations_cover_every_service_and_never_stop_each_other(definition: dict[str, Any]) -> None:
    compensate = definition["States"]["Compensate"]
    branch_tasks = []
    for branch in compensate["Branches"]:
        (task,) = [(n, s) for n, s in branch["States"].items() if s["Type"] == "Task"]
        name, state = task
        branch_tasks.append(name)
        assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], f"{name} failing would cancel its siblings"
    # One branch per service, in reverse order of the forward steps, each undoing with the function that did.
    assert [template.saga_tasks()[name].service for name in branch_tasks] == SERVICES[::-1], branch_tasks


def test_every_path_from_the_compensations_closes_the_order(definition: dict[str, Any]) -> None:
    """Compensate's results are classified (ClassifyFailure, AnyCompensationFailed) and the order described, then
    CloseOrder writes it: no path from Compensate ends without going through CloseOrder."""
    states = definition["States"]
    seen, todo = set(), [definition["States"]["Compensate"]["Next"]]
    while todo:
        name = todo.pop()
        if name in seen or name == "CloseOrder":
            continue
        seen.add(name)
        state = states[name]
        assert state["Type"] not in ("Fail", "Succeed"), f"{name} ends before CloseOrder"
        assert not state.get("End"), f"{name} ends before CloseOrder"
        todo += asl.successors(state)
    assert "CloseOrder" in _reachable(definition, "Compensate")


def test_failures_end_distinctly(definition: dict[str, Any]) -> None:
    fails = {s["Error"] for s in definition["States"].values() if s["Type"] == "Fail"}
    assert fails == {"SERVICE_UNAVAILABLE", "COMPENSATION_FAILED"}
    states = definition["States"]
    assert states["CloseOrder"]["Catch"][-1] == {
        "ErrorEquals": ["States.ALL"],
        "ResultPath": "$.closeFailure",
        "Next": "OrderNotClosed",
    }
    assert states["FindClosedOrder"]["Catch"][-1]["Next"] == "OrderNotClosed"
    assert _reachable(definition, "OrderNotClosed") == {"OrderNotClosed", "CompensationFailed"}
    assert _reachable(definition, "OrderUnavailable") == {"OrderUnavailable", "ServiceUnavailable"}
