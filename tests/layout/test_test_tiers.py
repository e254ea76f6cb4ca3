"""The tests' own layout: a test's tier comes from its folder (tests/support/tiers.py), so a test file outside every
tier folder would run under no tier; helpers come from tests/support/, never from a conftest module."""

import ast
import tomllib
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.tiers import NOT_TESTS, TESTS, TIER_OF_FOLDER, TIERS, tier_of


def _test_files() -> list[Path]:
    return sorted({*TESTS.rglob("test_*.py"), *TESTS.rglob("*_test.py")})


def test_every_test_file_lives_in_a_tier_folder() -> None:
    outside = [str(path.relative_to(ROOT)) for path in _test_files() if tier_of(path) is None]
    assert not outside, f"move these under one of the tier folders {sorted(TIER_OF_FOLDER)}: {outside}"


def test_every_folder_of_tests_is_a_tier_or_support() -> None:
    folders = {path.name for path in TESTS.iterdir() if path.is_dir() and not path.name.startswith((".", "__"))}
    unknown = folders - set(TIER_OF_FOLDER) - set(NOT_TESTS)
    assert not unknown, f"give these folders a tier in tests/support/tiers.py, or move their tests: {sorted(unknown)}"


@pytest.mark.parametrize("folder", sorted(TIER_OF_FOLDER))
def test_every_tier_folder_exists(folder: str) -> None:
    # A renamed folder would silently leave its tests without a tier.
    assert (TESTS / folder).is_dir()


def test_every_tier_is_a_registered_marker() -> None:
    """pyproject registers each tier with what it needs (`--strict-markers` refuses an unregistered one)."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    registered = {line.split(":", 1)[0] for line in settings["tool"]["pytest"]["ini_options"]["markers"]}
    assert set(TIERS) <= registered


def test_no_test_imports_a_conftest_module() -> None:
    """conftest.py files hold fixtures only; what tests import lives in tests/support/."""
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]
            if any(name.split(".")[-1] == "conftest" or name.split(".")[-1].startswith("test_") for name in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"import these from tests/support/ instead of a conftest or a test module: {offenders}"
