"""What template.yaml and the ASL declare, read once: the lists a test must cover in full (every function, table,
saga step, service) come from here, so a service declared in template.yaml and the ASL is tested without editing
the tests. A test asserting one specific fact ("ChargePayment retries X") names it instead."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from saga_local.cloudformation import template as cfn
from statemachine import steps as asl_steps
from tests.support.paths import ROOT

STATE_MACHINE = asl_steps.STATE_MACHINE


@dataclass(frozen=True)
class Function:
    """An AWS::Serverless::Function of the template."""

    logical_id: str
    code_uri: str  # "functions/inventory"
    handler: str  # "inventory.handler.lambda_handler"
    environment: dict[str, Any]  # its own Variables (Globals' not merged)

    @property
    def code_dir(self) -> Path:
        return ROOT / self.code_uri

    @property
    def package(self) -> str:
        """The Python package of its code: `inventory`."""
        return self.handler.split(".", 1)[0]

    @property
    def service(self) -> str:
        """Its code folder's name under functions/: `inventory`, `outbox_relay`."""
        return Path(self.code_uri).name

    @property
    def tables(self) -> dict[str, str]:
        """Environment variable -> table logical id, for each `!Ref <table>` in its environment."""
        return {
            name: value["Ref"]
            for name, value in self.environment.items()
            if isinstance(value, dict) and value.get("Ref") in tables()
        }


@dataclass(frozen=True)
class Table:
    """An AWS::DynamoDB::Table of the template."""

    logical_id: str
    properties: dict[str, Any]

    @property
    def keys(self) -> dict[str, str]:
        """Key attribute -> HASH or RANGE."""
        return {key["AttributeName"]: key["KeyType"] for key in self.properties["KeySchema"]}

    @property
    def stream(self) -> str | None:
        """Its StreamViewType, None without a stream."""
        return (self.properties.get("StreamSpecification") or {}).get("StreamViewType")

    @property
    def env(self) -> str | None:
        """The environment variable the functions read its name from (None when no function reads it)."""
        for function in functions().values():
            for name, table in function.tables.items():
                if table == self.logical_id:
                    return name
        return None


@dataclass(frozen=True)
class SagaTask:
    """A Lambda Task of the saga (Parallel branches included): which function, hence which service, it calls."""

    name: str
    state: dict[str, Any]
    function: str  # logical id

    @property
    def service(self) -> str:
        return functions()[self.function].service

    @property
    def compensation(self) -> bool:
        """Whether it runs in the Compensate Parallel (an undo), not on the way forward."""
        return self.name in _compensation_task_names()


@cache
def template() -> dict[str, Any]:
    """template.yaml, with its CloudFormation tags in long form (`{"Ref": ...}`)."""
    return cfn.load()


def resources() -> dict[str, Any]:
    return dict(template()["Resources"])


def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return cfn.resources_of_type(template(), resource_type)


@cache
def functions() -> dict[str, Function]:
    """Every AWS::Serverless::Function: logical id -> Function."""
    return {
        logical_id: Function(
            logical_id,
            str(resource["Properties"]["CodeUri"]).rstrip("/"),
            str(resource["Properties"]["Handler"]),
            dict((resource["Properties"].get("Environment") or {}).get("Variables") or {}),
        )
        for logical_id, resource in of_type("AWS::Serverless::Function").items()
    }


@cache
def tables() -> dict[str, Table]:
    """Every AWS::DynamoDB::Table: logical id -> Table."""
    return {logical_id: Table(logical_id, r["Properties"]) for logical_id, r in of_type("AWS::DynamoDB::Table").items()}


def table_env() -> dict[str, str]:
    """Table logical id -> the environment variable a function reads its name from (tables no function reads: none)."""
    return {logical_id: table.env for logical_id, table in tables().items() if table.env}


@cache
def layer_dirs() -> tuple[Path, ...]:
    """The code folders of the template's layers (functions/shared)."""
    return tuple(ROOT / str(r["Properties"]["ContentUri"]) for r in of_type("AWS::Serverless::LayerVersion").values())


def code_dirs() -> list[Path]:
    """Every layer's and function's code folder: what Lambda puts on a function's import path."""
    return [*layer_dirs(), *(function.code_dir for function in functions().values())]


def reserving_concurrency() -> list[str]:
    """The functions that reserve concurrency (ReservedConcurrentExecutions; on a condition or not)."""
    return [
        name
        for name, r in of_type("AWS::Serverless::Function").items()
        if "ReservedConcurrentExecutions" in r["Properties"]
    ]


def stream_triggered(function: str) -> bool:
    """Whether a DynamoDB stream invokes the function (an event source mapping: the outbox relay)."""
    events = resources()[function]["Properties"].get("Events") or {}
    return any(event["Type"] == "DynamoDB" for event in events.values())


def services() -> list[str]:
    """The functions' code folder names (`inventory`, ..., `recovery_sweep`), in template order."""
    return [function.service for function in functions().values()]


@cache
def asl() -> dict[str, Any]:
    """statemachine/order_saga.asl.json."""
    return asl_steps.load_asl()


def function_of_substitution() -> dict[str, str]:
    """`${InventoryFunctionArn}`'s name -> `InventoryFunction`, from the state machine's DefinitionSubstitutions."""
    substitutions = resources()[STATE_MACHINE]["Properties"]["DefinitionSubstitutions"]
    return {
        name: value["Fn::GetAtt"][0]
        for name, value in substitutions.items()
        if isinstance(value, dict)
        and value.get("Fn::GetAtt", [None, None])[1] == "Arn"
        and value["Fn::GetAtt"][0] in functions()
    }


@cache
def saga_tasks() -> dict[str, SagaTask]:
    """Every Lambda Task of the saga, in ASL order (forward steps, then the undos in the Compensate branches)."""
    return {
        task.name: SagaTask(task.name, task.state, task.function)
        for task in asl_steps.tasks(asl(), function_of_substitution())
    }


def forward_steps() -> list[SagaTask]:
    """The Lambda Tasks on the way forward, in the order an order passes them (ReserveInventory, ChargePayment...)."""
    order: list[SagaTask] = []
    states = asl()["States"]
    name: str | None = asl()["StartAt"]
    seen: set[str] = set()
    # Follow Next, Choice defaults and branches' Next from StartAt: the forward Tasks come in order.
    pending = [name]
    while pending:
        name = pending.pop(0)
        if name is None or name in seen or name not in states:
            continue
        seen.add(name)
        state = states[name]
        if name in saga_tasks() and not saga_tasks()[name].compensation:
            order.append(saga_tasks()[name])
        pending.append(state.get("Next"))
        pending.extend(choice.get("Next") for choice in state.get("Choices", []))
        pending.append(state.get("Default"))
    return order


def compensations() -> list[SagaTask]:
    """The undo Tasks (in the Compensate Parallel's branches)."""
    return [task for task in saga_tasks().values() if task.compensation]


@cache
def _compensation_task_names() -> frozenset[str]:
    names: set[str] = set()
    for state in asl()["States"].values():
        for branch in state.get("Branches", []):
            names.update(name for name, _ in asl_steps.all_tasks(branch))
    return frozenset(names)


def substitution_of(function: str) -> str:
    """`InventoryFunction` -> `InventoryFunctionArn`: the name the ASL uses for it."""
    return next(name for name, target in function_of_substitution().items() if target == function)
