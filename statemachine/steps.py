"""The state machine's Tasks against the functions' handler tables: the code is the source of truth.

Each Lambda Task passes `"action": "<its own state name>"` to the function its Resource names
(`${InventoryFunctionArn}` -> InventoryFunction in template.yaml -> `inventory.handler.STEPS`). Its first Retrier
lists the errors that are final (MaxAttempts 0: straight to Catch, never retried); that list is the
step's `Step.no_retry` (saga_common.handler), i.e. the business errors the step declares, then InvalidCommand.

The other Tasks are DynamoDB integrations on the orders table (`arn:aws:states:::dynamodb:<action>`): no handler
table, and one final error. A conditional write's no-retry list is `DynamoDB.ConditionalCheckFailedException` (a
failed condition is an answer: the item is not in the state the write expects), a read has none. Any other Task is
reported: it is neither.

    python -m statemachine.steps            # what disagrees (exit 1), or nothing
    python -m statemachine.steps --write    # rewrite the ASL's no-retry lists from the code (make asl-errors)
"""

import importlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from statemachine.asl import ASL_PATH, ROOT, walk

if TYPE_CHECKING:
    from saga_common.handler import Step

TEMPLATE_PATH = ROOT / "template.yaml"
STATE_MACHINE = "OrderSagaStateMachine"
_SUBSTITUTION = re.compile(r"^\$\{(\w+)\}$")
DYNAMODB_INTEGRATION = "arn:aws:states:::dynamodb:"
CONDITION_FAILED = "DynamoDB.ConditionalCheckFailedException"


def _no_retry(state: Mapping[str, Any]) -> list[str] | None:
    """The ErrorEquals of a Task's no-retry Retrier (its first, with MaxAttempts 0), None without one."""
    retry = state.get("Retry") or [{}]
    return list(retry[0]["ErrorEquals"]) if retry[0].get("MaxAttempts") == 0 else None


@dataclass(frozen=True)
class Task:
    """A Lambda Task of the ASL, anywhere in it (Parallel branches included)."""

    name: str
    state: dict[str, Any]
    function: str  # the function's logical id in template.yaml

    @property
    def action(self) -> object:
        return self.state.get("Parameters", {}).get("action")

    @property
    def no_retry(self) -> list[str] | None:
        """The ErrorEquals of the Task's no-retry Retrier (its first, with MaxAttempts 0), None without one."""
        return _no_retry(self.state)


@dataclass(frozen=True)
class DynamoDBTask:
    """A DynamoDB integration Task of the ASL (`arn:aws:states:::dynamodb:putItem`...), anywhere in it."""

    name: str
    state: dict[str, Any]

    @property
    def action(self) -> str:
        return str(self.state["Resource"]).removeprefix(DYNAMODB_INTEGRATION)

    @property
    def no_retry(self) -> list[str] | None:
        return _no_retry(self.state)

    @property
    def expected_no_retry(self) -> list[str] | None:
        """A conditional write never retries its failed condition; a Task without a condition has nothing final."""
        return [CONDITION_FAILED] if "ConditionExpression" in self.state.get("Parameters", {}) else None


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads template.yaml's short-form tags (!GetAtt, !Ref, !Sub...) as their plain value."""


_CloudFormationLoader.add_multi_constructor(
    "!",
    lambda loader, _tag, node: (
        loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
    ),
)


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE_PATH.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)  # noqa: S506 - a safe loader with CloudFormation's tags
    return loaded


def function_of_substitution(resources: Mapping[str, Any]) -> dict[str, str]:
    """`OrdersFunctionArn` -> `OrdersFunction`, from the state machine's DefinitionSubstitutions."""
    substitutions = resources[STATE_MACHINE]["Properties"]["DefinitionSubstitutions"]
    return {name: str(value).split(".")[0] for name, value in substitutions.items() if str(value).endswith(".Arn")}


def load_asl(path: Path = ASL_PATH) -> dict[str, Any]:
    """The definition as written (its `${...}` substitutions kept: they name the functions)."""
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def all_tasks(definition: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Task state (name, state), in Parallel branches too."""
    for ref in walk(dict(definition)):
        if ref.state["Type"] == "Task":
            yield ref.name, ref.state


def tasks(definition: Mapping[str, Any], functions: Mapping[str, str]) -> Iterator[Task]:
    """Every Task whose Resource is one of the template's functions, in Parallel branches too."""
    for name, state in all_tasks(definition):
        resource = _SUBSTITUTION.match(str(state.get("Resource", "")))
        if resource and resource.group(1) in functions:
            yield Task(name, state, functions[resource.group(1)])


def dynamodb_tasks(definition: Mapping[str, Any]) -> Iterator[DynamoDBTask]:
    """Every DynamoDB integration Task, in Parallel branches too."""
    for name, state in all_tasks(definition):
        if str(state.get("Resource", "")).startswith(DYNAMODB_INTEGRATION):
            yield DynamoDBTask(name, state)


def _import_package(directory: Path) -> None:
    """Import the package in `directory` under its folder's name, unless a package of that name is imported already
    (the tests put the functions' folders on sys.path, as Lambda does): its modules' absolute imports of it and of
    its siblings then resolve without touching sys.path."""
    if directory.name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        directory.name, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"no package in {directory}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[directory.name] = module
    spec.loader.exec_module(module)


def handler_steps(resources: Mapping[str, Any], function: str) -> "Mapping[str, Step]":
    """The handler table (`STEPS` of the handler's module) of a function of template.yaml, imported from the
    function's CodeUri with the template's layers (their ContentUri) beside it, as Lambda would."""
    properties = resources[function]["Properties"]
    layers = [
        resource["Properties"]["ContentUri"]
        for resource in resources.values()
        if resource.get("Type") == "AWS::Serverless::LayerVersion"
    ]
    for folder in (*layers, properties["CodeUri"]):
        for package in sorted((ROOT / folder).glob("*/__init__.py")):
            _import_package(package.parent)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")  # importing a handler must not reach for X-Ray
    module_name = str(properties["Handler"]).rsplit(".", 1)[0]
    steps: Mapping[str, Step] = importlib.import_module(module_name).STEPS
    return steps


def disagreements(definition: Mapping[str, Any], resources: Mapping[str, Any]) -> list[str]:
    """Where the ASL and the handler tables disagree, each with how to fix it; empty when they agree."""
    functions = function_of_substitution(resources)
    problems = []
    known = {task.name for task in tasks(definition, functions)} | {task.name for task in dynamodb_tasks(definition)}
    for name, state in all_tasks(definition):
        if name not in known:
            problems.append(
                f"{name}: its Resource {state.get('Resource')!r} is neither a function of template.yaml "
                "(a `${...}` DefinitionSubstitution of one's Arn) nor a DynamoDB integration"
            )
    for dynamodb in dynamodb_tasks(definition):
        if dynamodb.no_retry != dynamodb.expected_no_retry:
            problems.append(
                f"{dynamodb.name}: the no-retry list is {dynamodb.no_retry}, a DynamoDB {dynamodb.action}'s is "
                f"{dynamodb.expected_no_retry} (a failed condition is final; a Task without one has none): "
                "run `make asl-errors`"
            )
    for task in tasks(definition, functions):
        steps = handler_steps(resources, task.function)
        if task.action != task.name:
            problems.append(f"{task.name}: passes action {task.action!r}; an action is named after its Task state")
        elif task.name not in steps:
            problems.append(f"{task.name}: {task.function}'s handler table has no step {task.name!r}")
        elif task.no_retry != steps[task.name].no_retry:
            problems.append(
                f"{task.name}: the no-retry list is {task.no_retry}, the code's is {steps[task.name].no_retry}"
                " (the step's final_errors in its handler table, then InvalidCommand): run `make asl-errors`"
            )
    return problems


def rewrite_no_retry_lists(definition: dict[str, Any], resources: Mapping[str, Any]) -> int:
    """Set every Task's no-retry list to its step's (a DynamoDB Task's: its condition's); how many changed. A Task
    without one gets one; a DynamoDB Task without a condition loses its."""
    changed = 0
    for dynamodb in dynamodb_tasks(definition):
        if dynamodb.no_retry == dynamodb.expected_no_retry:
            continue
        retry = dynamodb.state.setdefault("Retry", [])
        if dynamodb.no_retry is not None:
            retry.pop(0)
        if dynamodb.expected_no_retry is not None:
            retry.insert(0, {"ErrorEquals": dynamodb.expected_no_retry, "MaxAttempts": 0})
        if not retry:
            del dynamodb.state["Retry"]
        changed += 1
    for task in tasks(definition, function_of_substitution(resources)):
        steps = handler_steps(resources, task.function)
        if task.name not in steps or task.no_retry == steps[task.name].no_retry:
            continue
        final = {"ErrorEquals": steps[task.name].no_retry, "MaxAttempts": 0}
        retry = task.state.setdefault("Retry", [])
        if task.no_retry is None:
            retry.insert(0, final)
        else:
            retry[0]["ErrorEquals"] = final["ErrorEquals"]
        changed += 1
    return changed


def main(argv: list[str]) -> int:
    definition, resources = load_asl(), template()["Resources"]
    if "--write" in argv:
        changed = rewrite_no_retry_lists(definition, resources)
        ASL_PATH.write_text(json.dumps(definition, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{ASL_PATH.relative_to(ROOT)}: {changed} no-retry list(s) rewritten from the handler tables")
    problems = disagreements(definition, resources)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
