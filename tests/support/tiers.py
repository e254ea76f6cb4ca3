"""The test tiers: each is a pytest marker, given to every test by the folder it lives in (tests/conftest.py), and
registered in pyproject.toml with what it needs. A test file outside these folders is a layout mistake
(tests/layout/test_test_tiers.py)."""

import itertools
import re
from collections.abc import Callable
from pathlib import Path

from _pytest.mark.expression import Expression

TESTS = Path(__file__).resolve().parents[1]

# tier -> the folders of tests/ whose tests are of that tier
TIERS: dict[str, tuple[str, ...]] = {
    "unit": ("unit",),
    "contract": ("api", "statemachine", "template", "security", "layout", "tools", "loadtest"),
    "emulator": ("local",),
    "e2e": ("e2e",),
    "reliability": ("reliability",),
}
TIER_OF_FOLDER = {folder: tier for tier, folders in TIERS.items() for folder in folders}
# Folders of tests/ that hold no tests: shared helpers, and what the tests load (fixture functions...).
NOT_TESTS = ("support",)


def tier_of(path: Path) -> str | None:
    """The tier of a test file, from the first folder under tests/ it lives in (None: outside every tier)."""
    try:
        folder = path.resolve().relative_to(TESTS).parts[0]
    except (ValueError, IndexError):
        return None
    return TIER_OF_FOLDER.get(folder)


def could_select(markexpr: str, tier: str) -> bool:
    """Whether a `-m` expression can select any test of `tier`: each test has its tier's marker and no other tier's,
    and any other marker named in the expression (`slow`) may or may not be on it."""
    if not markexpr:
        return True
    others = sorted(set(re.findall(r"[\w.+-]+", markexpr)) - {"and", "or", "not", "True", "False"} - set(TIERS))
    expression = Expression.compile(markexpr)
    for values in itertools.product((False, True), repeat=len(others)):
        present = {tier} | {name for name, value in zip(others, values, strict=True) if value}
        if expression.evaluate(_has(present)):
            return True
    return False


def _has(present: set[str]) -> Callable[..., bool]:
    def matcher(name: str, /, **_: object) -> bool:
        return name in present

    return matcher
