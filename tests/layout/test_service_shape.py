"""Every service has the same shape (docs/saga-steps.md, The shape of a service), so one reads like another.

The services are the functions of template.yaml (each AWS::Serverless::Function's CodeUri, `functions/<service>`,
holding the package `<service>`): a new function is held to the same shape by existing.
"""

import ast
import dataclasses
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from saga_common.settings import FunctionSettings

from saga_local.cloudformation import template as cfn

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = cfn.load()
FUNCTIONS = cfn.resources_of_type(TEMPLATE, "AWS::Serverless::Function")
# service (its folder's name) -> the function's properties in template.yaml
SERVICES: dict[str, dict[str, Any]] = {
    Path(resource["Properties"]["CodeUri"]).name: resource["Properties"] for resource in FUNCTIONS.values()
}
LAYERS = {
    Path(resource["Properties"]["ContentUri"]).name
    for resource in cfn.resources_of_type(TEMPLATE, "AWS::Serverless::LayerVersion").values()
}
MODULES = {"handler.py", "service.py", "repository.py", "model.py", "errors.py", "settings.py"}
# Extra modules are ports and their adapters, each a concept of its own.
EXTRA_MODULES = {"payments": {"provider.py", "simulator.py"}}
# The layer's modules that are the one place of something every service shares.
ENTRY = Path("functions/shared/saga_common/entry.py")  # the Powertools decorators
SETTINGS = Path("functions/shared/saga_common/settings.py")  # reading the environment
CLOCK = Path("functions/shared/saga_common/clock.py")  # formatting a time
POWERTOOLS_ENTRY_DECORATORS = {"inject_lambda_context", "capture_lambda_handler", "log_metrics"}


def _tree(service: str, module: str) -> ast.Module:
    return ast.parse((ROOT / "functions" / service / service / module).read_text(encoding="utf-8"))


def _function_sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted((ROOT / "functions").rglob("*.py")):
        yield path.relative_to(ROOT), ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _environment(properties: dict[str, Any]) -> set[str]:
    own = properties.get("Environment", {}).get("Variables", {})
    shared = TEMPLATE.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return set(own) | set(shared)


def test_the_services_are_read_from_the_template() -> None:
    assert {"inventory", "payments", "billing", "outbox_relay", "recovery_sweep"} <= SERVICES.keys()


def test_every_folder_of_functions_is_a_function_or_the_layer() -> None:
    folders = {path.name for path in (ROOT / "functions").iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == SERVICES.keys() | LAYERS, "a folder of functions/ that no function or layer of the template uses"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_the_six_modules(service: str) -> None:
    modules = {path.name for path in (ROOT / "functions" / service / service).glob("*.py")} - {"__init__.py"}
    assert modules == MODULES | EXTRA_MODULES.get(service, set())


@pytest.mark.parametrize("service", SERVICES)
def test_repositories_are_module_functions(service: str) -> None:
    classes = [node.name for node in _tree(service, "repository.py").body if isinstance(node, ast.ClassDef)]
    assert not classes, f"{service}/repository.py: write {classes} as module functions, like every repository"


@pytest.mark.parametrize("service", SERVICES)
def test_models_serialise_in_pairs(service: str) -> None:
    """to_item pairs with from_item (a stored record), to_dict with from_dict (JSON) where both ways are read."""
    for node in _tree(service, "model.py").body:
        if isinstance(node, ast.ClassDef):
            methods = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
            if "to_item" in methods:
                assert "from_item" in methods, f"{service}.model.{node.name} writes items it cannot read"
            assert not methods & {"view", "answer", "envelope", "from_view"}, f"{service}.model.{node.name}"


def test_no_bare_runtime_error_in_services_and_repositories() -> None:
    """A technical failure is a saga_common.errors.TechnicalError (ConcurrentUpdate...): named for Step Functions."""
    for service in SERVICES:
        for module in ("service.py", "repository.py"):
            raised = [
                node.lineno
                for node in ast.walk(_tree(service, module))
                if isinstance(node, ast.Raise)
                and isinstance(node.exc, ast.Call)
                and isinstance(node.exc.func, ast.Name)
                and node.exc.func.id in {"RuntimeError", "Exception"}
            ]
            assert not raised, f"{service}/{module} lines {raised}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_handler_goes_through_the_entry_decorator(service: str) -> None:
    """The template's Handler is decorated with saga_common.entry.lambda_entry, or made by saga_step_handler (which
    is): Powertools, the settings and the exceptions are the same for every function."""
    module, _, name = str(SERVICES[service]["Handler"]).rpartition(".")
    assert module == f"{service}.handler", f"{service}: the Handler lives in {service}/handler.py"
    entries = []
    for node in _tree(service, "handler.py").body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            entries = [_dotted(decorator) for decorator in node.decorator_list]
        elif isinstance(node, ast.Assign) and any(getattr(target, "id", "") == name for target in node.targets):
            entries = [_dotted(node.value)]
    assert entries, f"{service}.handler has no {name}"
    assert entries[0] in {"lambda_entry", "saga_step_handler"}, f"{service}.handler.{name}: {entries}"


def test_the_powertools_entry_decorators_are_applied_once_in_the_code_base() -> None:
    applied = [
        f"{path}:{decorator.lineno}"
        for path, tree in _function_sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for decorator in node.decorator_list
        if _dotted(decorator).rpartition(".")[2] in POWERTOOLS_ENTRY_DECORATORS
    ]
    assert {location.partition(":")[0] for location in applied} == {str(ENTRY)}, applied


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = [
        f"{path}:{node.lineno}"
        for path, tree in _function_sources()
        if path != SETTINGS
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and _dotted(node) in {"os.environ", "os.getenv", "os.putenv"})
        or (isinstance(node, ast.ImportFrom) and node.module == "os")
    ]
    assert not readers, f"read settings through <service>/settings.py (saga_common.settings): {readers}"


def test_only_the_clock_formats_times() -> None:
    formatters = [
        f"{path}:{node.lineno}"
        for path, tree in _function_sources()
        if path != CLOCK
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in {"isoformat", "strftime"}
    ]
    assert not formatters, f"format times with saga_common.clock: {formatters}"


def test_exceptions_are_declared_in_errors_modules() -> None:
    """Step Functions matches exceptions by class name: each service's (and the layer's) are in one place."""
    elsewhere = [
        f"{path}:{node.lineno} {node.name}"
        for path, tree in _function_sources()
        if path.name != "errors.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(_dotted(base).endswith(("Error", "Exception", "Unavailable", "Declined")) for base in node.bases)
    ]
    assert not elsewhere, f"move these to the errors.py beside them: {elsewhere}"


@pytest.mark.parametrize("service", SERVICES)
def test_settings_are_one_frozen_dataclass_the_template_sets(service: str) -> None:
    """Each field is required (no default: the template holds the value) and its variable is in the function's
    Environment (its own, or Globals)."""
    module = importlib.import_module(f"{service}.settings")
    [settings] = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, FunctionSettings) and value.__module__ == module.__name__
    ]
    assert dataclasses.is_dataclass(settings)
    assert vars(settings)["__dataclass_params__"].frozen, f"{settings.__name__} is frozen: read once, never changed"
    fields = dataclasses.fields(settings)
    defaults = [
        f.name for f in fields if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    ]
    assert not defaults, f"{settings.__name__}: no default may copy template.yaml: {defaults}"
    missing = {f.name.upper() for f in fields} - _environment(SERVICES[service])
    assert not missing, f"template.yaml sets no {sorted(missing)} for the {service} function"
