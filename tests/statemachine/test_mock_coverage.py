"""The test cases of statemachine/order_saga.mock.json, together, enter every state of the ASL file and exercise every
Retry, Catch and Choice rule: a new state or rule that no test case reaches fails here, named. The executions and
their reading are those of tests/statemachine/test_saga_paths.py.

A Retry rule is exercised when an error it is the first match for happens in its state (a rule with MaxAttempts 0 too:
it is the rule that says "never retry this"), a Catch rule when it catches the error that left its state, a Choice
rule when the Choice state moved to its Next.
"""

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from statemachine import asl
from tests.support.mocked_saga import (
    MOCK_CONFIG,
    STATE_MACHINE_NAME,
    Outcome,
    mock_config,
    mock_test_cases,
    mocked_saga,
    outcome,
)

HOW_TO = f"add a test case to {MOCK_CONFIG.relative_to(MOCK_CONFIG.parents[1])} (docs/testing-the-state-machine.md)"


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    with mocked_saga() as saga:
        return [outcome(saga, test_case) for test_case in mock_test_cases()]


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return asl.load()


@dataclass(frozen=True)
class Target:
    kind: str  # "state", "Retry", "Catch" or "Choice"
    description: str  # how a failure names it


def targets(definition: dict[str, Any]) -> dict[str, Target]:
    """What the test cases must reach, by id: every state, and every Retry, Catch and Choice rule of each."""
    found: dict[str, Target] = {}
    for ref in asl.walk(definition):
        where = f"{ref.scope}{ref.name}"
        found[ref.name] = Target("state", f"state {where} ({ref.state['Type']})")
        for index, retrier in enumerate(ref.state.get("Retry", [])):
            found[f"{ref.name}.Retry[{index}]"] = Target("Retry", f"{where}.Retry[{index}] {retrier['ErrorEquals']}")
        for index, catcher in enumerate(ref.state.get("Catch", [])):
            description = f"{where}.Catch[{index}] {catcher['ErrorEquals']} -> {catcher['Next']}"
            found[f"{ref.name}.Catch[{index}]"] = Target("Catch", description)
        for index, choice in enumerate(ref.state.get("Choices", [])):
            found[f"{ref.name}.Choices[{index}]"] = Target("Choice", f"{where}.Choices[{index}] -> {choice['Next']}")
        if "Default" in ref.state:
            found[f"{ref.name}.Default"] = Target("Choice", f"{where}.Default -> {ref.state['Default']}")
    return found


def exercised(definition: dict[str, Any], outcomes: Iterable[Outcome]) -> set[str]:
    """The targets the executions reached: states entered, Retry and Catch rules matched, Choice rules taken,
    according to the rules of `definition`."""
    states = {ref.name: ref for ref in asl.walk(definition)}
    reached: set[str] = set()
    for result in outcomes:
        for name in result.runs:
            reached.add(name)
            state = states[name].state if name in states else {}
            if result.cut_short(name):
                continue  # its errors are the interpreter stopping it
            if state.get("Type") in ("Task", "Parallel"):
                done = result.handling(name, states)
                reached.update(f"{name}.Retry[{index}]" for index in done.retriers)
                if done.catcher is not None:
                    reached.add(f"{name}.Catch[{done.catcher}]")
            elif state.get("Type") == "Choice":
                after = result.successor(name)
                taken = [index for index, choice in enumerate(state["Choices"]) if choice["Next"] == after]
                reached.update(f"{name}.Choices[{index}]" for index in taken)
                if not taken and state.get("Default") == after:
                    reached.add(f"{name}.Default")
    return reached


def missing(definition: dict[str, Any], outcomes: Iterable[Outcome], kind: str) -> list[str]:
    """The targets of one kind that no test case reaches, as a failure names them."""
    reached = exercised(definition, outcomes)
    return [
        target.description for key, target in targets(definition).items() if target.kind == kind and key not in reached
    ]


# ---------------------------------------------------------------------------------------------- coverage


def test_every_state_is_entered_by_a_test_case(definition: dict[str, Any], outcomes: list[Outcome]) -> None:
    gaps = missing(definition, outcomes, "state")
    assert not gaps, f"no test case enters {'; '.join(gaps)}: {HOW_TO}"


def test_every_retry_rule_is_exercised(definition: dict[str, Any], outcomes: list[Outcome]) -> None:
    gaps = missing(definition, outcomes, "Retry")
    assert not gaps, f"no test case throws an error that {'; '.join(gaps)} is the first match for: {HOW_TO}"


def test_every_catch_rule_is_exercised(definition: dict[str, Any], outcomes: list[Outcome]) -> None:
    gaps = missing(definition, outcomes, "Catch")
    assert not gaps, f"no test case ends in {'; '.join(gaps)}: {HOW_TO}"


def test_every_choice_rule_is_taken(definition: dict[str, Any], outcomes: list[Outcome]) -> None:
    gaps = missing(definition, outcomes, "Choice")
    assert not gaps, f"no test case takes {'; '.join(gaps)}: {HOW_TO}"


def test_the_check_names_a_new_state_or_rule_that_no_test_case_reaches(
    definition: dict[str, Any], outcomes: list[Outcome]
) -> None:
    changed = copy.deepcopy(definition)
    changed["States"]["ApplyLoyaltyDiscount"] = {"Type": "Pass", "Next": "ChargePayment"}
    compensate = changed["States"]["Compensate"]
    compensate["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "OrderNotClosed"}]
    compensate["Branches"][1]["States"]["RefundPayment"]["Retry"].insert(
        0, {"ErrorEquals": ["RefundLimitExceeded"], "MaxAttempts": 0}
    )

    def new_gaps(kind: str) -> list[str]:
        already = set(missing(definition, outcomes, kind))
        return [gap for gap in missing(changed, outcomes, kind) if gap not in already]

    assert new_gaps("state") == ["state ApplyLoyaltyDiscount (Pass)"]
    assert new_gaps("Catch") == ["Compensate.Catch[0] ['States.ALL'] -> OrderNotClosed"]
    # The technical rule, now Retry[1], is still exercised: only the new one is named.
    assert new_gaps("Retry") == ["Compensate[1]/RefundPayment.Retry[0] ['RefundLimitExceeded']"]


# ---------------------------------------------------------------------------------------------- the analysis is right


def test_retries_counted_from_the_history_follow_the_retry_rules(outcomes: list[Outcome]) -> None:
    """The interpreter's attempts agree with what the Retry rules say about the errors the history shows."""
    for result in outcomes:
        for name, run in result.runs.items():
            if run.attempts and not result.cut_short(name):
                assert result.handling(name).retried == run.attempts - 1, (result.response["name"], name)


def test_every_catch_leads_to_its_next_state(outcomes: list[Outcome]) -> None:
    for result in outcomes:
        for name in result.runs:
            state = result.states[name].state
            if state["Type"] in ("Task", "Parallel") and (catcher := result.handling(name).catcher) is not None:
                assert result.successor(name) == state["Catch"][catcher]["Next"], name


def test_no_test_case_reaches_a_task_it_does_not_mock(outcomes: list[Outcome]) -> None:
    """An unmocked Task fails its execution with States.Runtime (saga_local.stepfunctions.mock_config)."""
    runtime_errors = [
        (result.response["name"], name)
        for result in outcomes
        for name, run in result.runs.items()
        if "States.Runtime" in run.errors
    ]
    assert runtime_errors == []
    assert all(result.error != "States.Runtime" for result in outcomes)


# ---------------------------------------------------------------------------------------------- the file itself


def test_every_mocked_state_is_a_task_of_the_machine(definition: dict[str, Any]) -> None:
    tasks = {ref.name for ref in asl.walk(definition) if ref.state["Type"] == "Task"}
    cases = mock_config()["StateMachines"][STATE_MACHINE_NAME]["TestCases"]
    unknown = sorted({f"{case}: {state}" for case, states in cases.items() for state in states if state not in tasks})
    assert unknown == [], "test cases mock states that are not Task states of the ASL file (renamed?)"


def test_every_mocked_response_is_used() -> None:
    config = mock_config()
    used = {response for states in config["StateMachines"][STATE_MACHINE_NAME]["TestCases"].values()
            for response in states.values()}  # fmt: skip
    assert sorted(set(config["MockedResponses"]) - used) == []


def test_the_file_is_plain_json_in_step_functions_locals_format() -> None:
    """No comments or trailing commas (Step Functions Local reads it with a strict JSON parser), and only the two
    top-level keys its format has."""
    document = json.loads(MOCK_CONFIG.read_text(encoding="utf-8"))
    assert set(document) == {"StateMachines", "MockedResponses"}
