"""The code stays small enough to read: no function over 60 lines, no local-stack module over 600.

Tests are exempt (a table of cases reads better whole). A function's length is counted from its `def`
(decorators excluded) to its last line, docstring included.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import ROOT

SOURCE_DIRS = ("functions", "statemachine", "saga_local", "reliability", "loadtest", "benchmarks")
MAX_FUNCTION_LINES = 60
MAX_LOCAL_MODULE_LINES = 600


def _sources() -> list[Path]:
    return sorted(path for folder in SOURCE_DIRS for path in (ROOT / folder).rglob("*.py"))


def _long_functions(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name} has {length} lines"


def test_no_function_is_over_60_lines() -> None:
    long = [finding for path in _sources() for finding in _long_functions(path)]
    assert not long, "split these functions:\n" + "\n".join(long)


def test_no_local_stack_module_is_over_600_lines() -> None:
    long = [
        f"{path.relative_to(ROOT)} has {count} lines"
        for path in sorted((ROOT / "saga_local").rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LOCAL_MODULE_LINES
    ]
    assert not long, "split these modules:\n" + "\n".join(long)


@pytest.mark.parametrize("folder", SOURCE_DIRS)
def test_every_source_folder_exists(folder: str) -> None:
    # A renamed folder would silently drop out of the checks above.
    assert (ROOT / folder).is_dir()


@pytest.mark.parametrize("folder", ["functions", "statemachine"])
def test_the_functions_and_the_asl_tooling_leave_sys_path_alone(folder: str) -> None:
    """A function's packages are on the path as Lambda puts them (its code, its layers); the ASL tooling imports
    them by file (statemachine.steps), the tests by their configuration."""
    edits = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr in {"insert", "append", "extend"}
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "path"
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "sys"
    ]
    assert not edits, edits


def test_the_asl_is_read_in_one_place() -> None:
    """statemachine/asl.py reads the ASL (states, transitions, worst case); nothing else keeps a copy of it."""
    assert not (ROOT / "saga_local" / "stepfunctions" / "asl.py").exists()
    definers = [
        str(path.relative_to(ROOT))
        for path in _sources()
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef) and node.name in {"worst_case", "worst_case_task_seconds", "retry_waits"}
    ]
    assert set(definers) == {"statemachine/asl.py"}, definers
