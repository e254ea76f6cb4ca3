"""The ASL's Lambda Tasks against the functions' handler tables (statemachine/steps.py): the code decides.

Every Task calls an action its function has, named after the Task state; its no-retry list is built from
the business errors the code declares for that step; and every business error a service defines is
declared by one of its steps, so none can be retried by mistake. The other Tasks are DynamoDB integrations on the
orders table: a conditional write never retries its failed condition, a read has no final error.
"""

import copy
import inspect
import re
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from saga_common.errors import BusinessError
from saga_common.handler import Step

from statemachine import steps as asl_steps
from tests.support import template

# Final errors that are not BusinessErrors: Powertools' answer to a reused idempotency key with another payload.
FINAL_TECHNICAL_NAMES = {IdempotencyValidationError}
FIX = "run `make asl-errors` to rewrite the ASL's no-retry lists from the handler tables"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return asl_steps.template()["Resources"]


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return asl_steps.load_asl()


@pytest.fixture(scope="module")
def tasks(definition: dict[str, Any], resources: dict[str, Any]) -> list[asl_steps.Task]:
    return list(asl_steps.tasks(definition, asl_steps.function_of_substitution(resources)))


@pytest.fixture(scope="module")
def tables(resources: dict[str, Any], tasks: list[asl_steps.Task]) -> dict[str, Mapping[str, Step]]:
    """Function logical id -> its handler table, for every function a Task calls."""
    return {task.function: asl_steps.handler_steps(resources, task.function) for task in tasks}


def test_every_function_arn_substitution_names_a_saga_function(resources: dict[str, Any]) -> None:
    functions = asl_steps.function_of_substitution(resources)
    assert set(functions.values()) <= set(template.functions())
    assert set(functions.values()) == {task.function for task in template.saga_tasks().values()}


def _lambda_states(node: Any) -> Iterator[str]:
    """The names of the states, anywhere in the definition, whose Resource is a `${...}` substitution."""
    if isinstance(node, dict):
        for name, state in (node.get("States") or {}).items():
            if str(state.get("Resource", "")).startswith("${"):
                yield name
        for value in node.values():
            yield from _lambda_states(value)
    elif isinstance(node, list):
        for value in node:
            yield from _lambda_states(value)


def test_tasks_are_found_in_parallel_branches_too(definition: dict[str, Any], tasks: list[asl_steps.Task]) -> None:
    assert sorted(task.name for task in tasks) == sorted(_lambda_states(definition))
    assert {task.name for task in template.compensations()} <= {task.name for task in tasks}


def test_every_task_is_a_lambda_task_or_a_dynamodb_integration(
    definition: dict[str, Any], tasks: list[asl_steps.Task]
) -> None:
    dynamodb = {task.name: task.action for task in asl_steps.dynamodb_tasks(definition)}
    assert dynamodb == {
        "ClaimIdempotencyKey": "updateItem",
        "CreateOrder": "putItem",
        "FindExistingOrder": "getItem",
        "StoreClaimedOrder": "putItem",
        "ConfirmOrder": "updateItem",
        "FindUnconfirmedOrder": "getItem",
        "ClaimCompensation": "updateItem",
        "FindConfirmedOrder": "getItem",
        "CloseOrder": "updateItem",
        "FindClosedOrder": "getItem",
    }
    assert not dynamodb.keys() & {task.name for task in tasks}, "a DynamoDB Task has no handler table"
    assert {name for name, _ in asl_steps.all_tasks(definition)} == dynamodb.keys() | {task.name for task in tasks}


def _sets_only_if_not_exists(parameters: dict[str, Any]) -> bool:
    """An update whose every assignment keeps what is there (`SET #a = if_not_exists(#a, :v), ...`): a repeat changes
    nothing, as a failed condition would not (the Idempotency-Key claim, which reads the claim in the same write)."""
    expression = parameters.get("UpdateExpression", "")
    if not expression.startswith("SET ") or "ReturnValues" not in parameters:
        return False
    assignments = re.split(r", (?=#)", expression.removeprefix("SET "))
    return all(re.fullmatch(r"(#\w+) = if_not_exists\(\1, :\w+\)", part) for part in assignments)


def test_a_conditional_write_never_retries_its_failed_condition(definition: dict[str, Any]) -> None:
    for task in asl_steps.dynamodb_tasks(definition):
        condition = task.state["Parameters"].get("ConditionExpression")
        if task.action == "getItem":
            assert condition is None, task.name
            assert task.no_retry is None, f"{task.name}: a read has no final error"
        elif _sets_only_if_not_exists(task.state["Parameters"]):
            assert condition is None, task.name
            assert task.no_retry is None, task.name
        else:
            assert condition, f"{task.name}: an unconditional write to the order record"
            assert task.no_retry == ["DynamoDB.ConditionalCheckFailedException"], task.name


def test_every_task_calls_an_action_of_its_function_named_after_the_state(
    tasks: list[asl_steps.Task], tables: dict[str, Mapping[str, Step]]
) -> None:
    for task in tasks:
        assert task.action == task.name, f"{task.name} passes action {task.action!r}: name it after the state"
        assert task.name in tables[task.function], f"{task.function}'s handler table has no step {task.name}"


def test_every_step_of_a_handler_table_is_called_by_a_task(
    tasks: list[asl_steps.Task], tables: dict[str, Mapping[str, Step]]
) -> None:
    called = {(task.function, task.name) for task in tasks}
    for function, table in tables.items():
        unused = {name for name in table if (function, name) not in called}
        assert not unused, f"{function}: no Task calls {sorted(unused)}"


def test_each_step_function_is_named_after_its_action(tables: dict[str, Mapping[str, Step]]) -> None:
    """ReserveInventory runs reserve_inventory: its Powertools idempotency key names the step, too."""
    for table in tables.values():
        for action, step in table.items():
            assert step.run.__name__ == re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower(), action


def test_no_retry_lists_are_built_from_the_code(
    tasks: list[asl_steps.Task], tables: dict[str, Mapping[str, Step]]
) -> None:
    for task in tasks:
        expected = tables[task.function][task.name].no_retry
        assert task.no_retry == expected, f"{task.name}: the ASL says {task.no_retry}, the code {expected}: {FIX}"


def test_the_checker_agrees_and_rewriting_changes_nothing(
    definition: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert asl_steps.disagreements(definition, resources) == []
    assert asl_steps.rewrite_no_retry_lists(copy.deepcopy(definition), resources) == 0


def test_the_rewrite_restores_a_list_edited_by_hand(definition: dict[str, Any], resources: dict[str, Any]) -> None:
    edited = asl_steps.load_asl()
    edited["States"]["ReserveInventory"]["Retry"][0]["ErrorEquals"] = ["OutOfStock", "InvalidCommand"]
    [problem] = asl_steps.disagreements(edited, resources)
    assert "ReserveInventory" in problem
    assert "make asl-errors" in problem

    assert asl_steps.rewrite_no_retry_lists(edited, resources) == 1
    assert edited == definition


def test_the_rewrite_restores_a_dynamodb_tasks_list(definition: dict[str, Any], resources: dict[str, Any]) -> None:
    edited = asl_steps.load_asl()
    edited["States"]["CloseOrder"]["Retry"].pop(0)  # a failed condition would be retried
    edited["States"]["FindClosedOrder"]["Retry"] = [
        {"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "MaxAttempts": 0}
    ]
    problems = asl_steps.disagreements(edited, resources)
    assert [problem.split(":")[0] for problem in problems] == ["CloseOrder", "FindClosedOrder"]
    assert all("make asl-errors" in problem for problem in problems)

    assert asl_steps.rewrite_no_retry_lists(edited, resources) == 2
    assert edited == definition


def test_the_checker_names_a_task_that_is_neither(definition: dict[str, Any], resources: dict[str, Any]) -> None:
    edited = asl_steps.load_asl()
    edited["States"]["CreateOrder"]["Resource"] = "${OrdersFunctionArn}"  # a function template.yaml no longer has
    [problem] = asl_steps.disagreements(edited, resources)
    assert problem.startswith("CreateOrder: its Resource '${OrdersFunctionArn}' is neither")


def test_caught_errors_are_final_ones(tasks: list[asl_steps.Task], tables: dict[str, Mapping[str, Step]]) -> None:
    """A Catch naming an error the step does not declare final would see it only after the technical retries."""
    for task in tasks:
        final = set(tables[task.function][task.name].no_retry)
        for catcher in task.state.get("Catch", []):
            named = {error for error in catcher["ErrorEquals"] if not error.startswith("States.")}
            assert named <= final, f"{task.name} catches {sorted(named - final)}, which it does not declare final"


def _service_errors(table: Mapping[str, Step]) -> ModuleType:
    """The errors module of the service a handler table belongs to (`<service>.errors`)."""
    step = next(iter(table.values()))
    service = inspect.getmodule(step.run)
    assert service is not None
    return __import__(f"{service.__name__.split('.')[0]}.errors", fromlist=["errors"])


def test_final_errors_are_business_errors(tables: dict[str, Mapping[str, Step]]) -> None:
    for function, table in tables.items():
        for action, step in table.items():
            for error in step.final_errors:
                assert issubclass(error, BusinessError) or error in FINAL_TECHNICAL_NAMES, (
                    f"{function} {action}: {error.__name__} is technical; the state machine must retry it"
                )


def test_every_business_error_a_service_defines_is_declared_by_a_step(tables: dict[str, Mapping[str, Step]]) -> None:
    for function, table in tables.items():
        errors = _service_errors(table)
        defined = {
            value
            for value in vars(errors).values()
            if isinstance(value, type) and issubclass(value, BusinessError) and value.__module__ == errors.__name__
        }
        declared = {error for step in table.values() for error in step.final_errors}
        missing = sorted(error.__name__ for error in defined - declared)
        assert not missing, f"{function}: {missing} in {errors.__name__} but no step declares them final ({FIX})"
