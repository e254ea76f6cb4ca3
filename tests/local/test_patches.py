"""saga_local.core.patches: one registry of moto patches, each saying what it replaces and why, each undoable."""

import subprocess
import sys

import pytest

from saga_local.core import patches
from saga_local.core.patching import Kind
from saga_local.stepfunctions.json_path import DEFINITE_JSON_PATHS
from saga_local.stepfunctions.parse_once import PARSE_DEFINITIONS_ONCE
from tests.support.paths import ROOT

PARALLEL_OUTPUT = [{"invoiceId": "inv_1"}, {"ledgerEntryId": "led_1"}]


def test_every_patch_names_what_it_replaces_and_why() -> None:
    names = [patch.name for patch in patches.REGISTRY]
    assert len(set(names)) == len(names)
    for patch in patches.REGISTRY:
        assert patch.replaces.startswith("moto."), patch.name  # the moto code it changes, by its dotted name
        assert ":" in patch.replaces, patch.name
        assert patch.because, patch.name
        assert all(required in patches.REGISTRY for required in patch.requires), patch.name


def test_the_registry_separates_gaps_settings_and_speed_ups() -> None:
    kinds = {patch.name: patch.kind for patch in patches.REGISTRY}
    assert kinds["sfn-start-sync-execution"] is Kind.GAP
    assert kinds["sfn-retry-scale"] is kinds["sfn-timeout-scale"] is Kind.SETTING
    assert kinds["sfn-parse-once"] is kinds["server-route-cache"] is kinds["dynamodb-transaction-copy"] is Kind.SPEED


def test_undo_gives_moto_its_own_behaviour_back() -> None:
    """The JSONPath fix rebinds moto's function in every module holding it; undo puts all of them back."""
    from moto.stepfunctions.parser.asl.utils import json_path

    patches.apply_all()
    assert json_path.extract_json("$[0].invoiceId", PARALLEL_OUTPUT) == "inv_1"
    DEFINITE_JSON_PATHS.undo()
    try:
        assert not DEFINITE_JSON_PATHS.applied
        assert json_path.extract_json("$[0].invoiceId", PARALLEL_OUTPUT) == ["inv_1"]  # moto 5.2.5's answer
    finally:
        DEFINITE_JSON_PATHS.apply()
    assert json_path.extract_json("$[0].invoiceId", PARALLEL_OUTPUT) == "inv_1"


def test_undo_restores_a_method_to_the_class_that_had_it() -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    patches.apply_all()
    patched = ExecutionWorker._get_evaluation_entrypoint
    PARSE_DEFINITIONS_ONCE.undo()
    try:
        assert ExecutionWorker._get_evaluation_entrypoint is patched.__wrapped__  # type: ignore[attr-defined]  # set by functools.wraps; not in the function type
    finally:
        PARSE_DEFINITIONS_ONCE.apply()


def test_a_patch_wrapped_by_a_later_one_refuses_to_be_undone_first() -> None:
    """Undoing StartSyncExecution under the trace patch would silently drop the trace wrapper too."""
    patches.apply_all()
    with pytest.raises(RuntimeError, match="undo that patch first"):
        patches.by_name("sfn-start-sync-execution").undo()


def test_python_m_saga_local_patches_lists_every_patch() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "saga_local", "patches"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    table = subprocess.run(
        [sys.executable, "-m", "saga_local", "patches", "--markdown"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    for patch in patches.REGISTRY:
        assert patch.name in listed
        assert f"| `{patch.name}` | {patch.kind}" in table
    assert listed.index("moto gap:") < listed.index("local setting:") < listed.index("speed-up:")


def test_the_documented_table_is_the_registry() -> None:
    page = (ROOT / "docs" / "local-stack.md").read_text(encoding="utf-8")
    table = page.split("<!-- generated: saga-local patches -->\n", 1)[1].split("\n<!-- end generated -->", 1)[0]
    assert table == patches.describe(markdown=True), (
        "docs/local-stack.md's patch table differs from the registry: run benchmarks/report_tables.py"
    )
