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
