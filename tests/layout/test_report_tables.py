"""A figure that comes from a report is shown once, rendered from it: every table between `<!-- generated: ... -->`
markers in the README and docs/ equals what benchmarks/report_tables.py renders from its report today."""

import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _report_tables() -> Any:
    spec = importlib.util.spec_from_file_location("report_tables", ROOT / "benchmarks" / "report_tables.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_generated_table_agrees_with_its_report() -> None:
    tables = _report_tables()
    assert tables.stale() == [], "run .venv/bin/python benchmarks/report_tables.py and commit the pages"


def test_each_report_is_shown_somewhere() -> None:
    tables = _report_tables()
    shown = "".join(page.read_text(encoding="utf-8") for page in tables.pages())
    for report in sorted((ROOT / "reports").glob("*.json")):
        assert f"<!-- generated: reports/{report.name}" in shown, f"{report.name} is shown on no page"


def test_a_page_that_disagrees_with_its_report_is_caught(tmp_path: Path) -> None:
    tables = _report_tables()
    (tmp_path / "docs").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "local-saga.json").write_text((ROOT / "reports" / "local-saga.json").read_text())
    page = "<!-- generated: reports/local-saga.json -->\n| an old table |\n<!-- end generated -->\n"
    (tmp_path / "README.md").write_text(page)
    assert tables.stale(tmp_path) == [tmp_path / "README.md"]
    (tmp_path / "README.md").write_text(tables.render(page, tmp_path))
    assert tables.stale(tmp_path) == []
