"""Every service has the same shape (docs/saga-steps.md, The shape of a service), so one reads like another."""

import ast

import pytest

from tests.support.paths import ROOT
from tests.support.template import services

# Every function of template.yaml (the orders are the state machine's own: no function); the scheduled and the
# stream-triggered ones have the same five modules.
SERVICES = services()
MODULES = {"handler.py", "service.py", "repository.py", "model.py", "errors.py"}
# Extra modules are ports and their adapters, each a concept of its own.
EXTRA_MODULES = {"payments": {"provider.py", "simulator.py"}}


def _tree(service: str, module: str) -> ast.Module:
    return ast.parse((ROOT / "functions" / service / service / module).read_text(encoding="utf-8"))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_the_five_modules(service: str) -> None:
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
