"""The figures of reports/*.json, rendered into the Markdown pages that show them.

A page shows a report's table between two marker comments; this script writes what is between them:

    <!-- generated: reports/cost.json -->
    ...
    <!-- end generated -->

A view after the report's path picks another table of the same report (`<!-- generated: reports/cost.json
levers -->`); `<!-- generated: saga-local patches -->` is the registry of changes made to moto. Each figure then
lives in its report only, and a page that disagrees with it fails `--check` (and tests/layout/test_report_tables.py).

    .venv/bin/python benchmarks/report_tables.py            # rewrite the tables of README.md and docs/*.md
    .venv/bin/python benchmarks/report_tables.py --check    # exit 1, naming the page, if one is out of date
"""

import argparse
import importlib.util
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MARKER = re.compile(
    r"(?P<open><!-- generated: (?P<report>\S+)(?: (?P<view>[\w-]+))? -->\n)"
    r"(?P<body>.*?)(?P<close><!-- end generated -->)",
    flags=re.DOTALL,
)
TIMES = "\N{MULTIPLICATION SIGN}"


def pages(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


# ---------------------------------------------------------------- renderers, one per report and view


def _cost_module() -> Any:
    spec = importlib.util.spec_from_file_location("cost_report", ROOT / "benchmarks" / "cost.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cost(report: dict[str, Any]) -> str:
    """USD per million orders by line item and path, then the counts per order (benchmarks/cost.py --markdown)."""
    header = (
        f"Measured {report['measured_on']} (`{report['command']}`, {report['runs_per_path']} orders per path, "
        f"{report['machine']['cpus']}-core machine), priced at {report['region']} list prices of "
        f"{report['prices_as_of']}. USD per million orders:"
    )
    without_levers = {key: value for key, value in report.items() if key != "levers"}
    return header + "\n\n" + _cost_module().markdown(without_levers)


def cost_target(report: dict[str, Any]) -> str:
    target = report["target"]
    return "\n".join([
        "| confirmed order | measured | target |",
        "|---|---:|---:|",
        f"| on-demand | ${target['measured_usd_per_million']:.2f} (${target['measured_without_durations']:.2f} without "
        f"durations) | ${target['usd_per_million_confirmed']:.2f} |",
        f"| provisioned at 70 % | ${target['provisioned_usd_per_million']:.2f} | "
        f"${target['provisioned_goal_usd_per_million']:.2f} (goal) |",
    ])  # fmt: skip


def cost_levers(report: dict[str, Any]) -> str:
    rows = ["| lever | kind | saving, USD per million |", "|---|---|---:|"]
    for lever in report["levers"]:
        saving = next(value for key, value in lever.items() if key.endswith("usd_per_million"))
        rows.append(f"| {lever['lever']} | {lever['kind']} | {saving:.2f} |")
    return "\n".join(rows)


def local_saga(report: dict[str, Any]) -> str:
    machine = report["machine"]
    rows = [
        f"{machine['cpus']}-core machine, Python {machine['python']}, load average "
        f"{machine['load_average_1m_at_start']} at the start; start-up {report['startup_seconds']} s.",
        "",
        "| | p50 | p95 | orders/s | CPU per order: stack | functions | stack / functions | statuses |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in report["runs"]:
        statuses = ", ".join(f"{count} {TIMES} {status}" for status, count in run["statuses"].items())
        rows.append(
            f"| concurrency {run['concurrency']} ({run['orders']} orders) | {run['p50_ms']:,.0f} ms "
            f"| {run['p95_ms']:,.0f} ms | {run['orders_per_second']} | {run['stack_cpu_ms_per_order']:.0f} ms "
            f"| {run['functions_cpu_ms_per_order']:.0f} ms | {run['stack_to_functions_cpu']} | {statuses} |"
        )
    rows += ["", "| target | wanted | measured | met |", "|---|---:|---:|---|"]
    for name, target in report["targets"].items():
        rows.append(
            f"| {name.replace('_', ' ')} | {target['target']:g} | {target['measured']:g} "
            f"| {'yes' if target['met'] else 'no'} |"
        )
    return "\n".join(rows)


def cold_start(report: dict[str, Any]) -> str:
    machine = report["machine"]
    compared = {row["function"].split("@")[0]: row for row in report.get("compared_revision", {}).get("functions", [])}
    ref = report.get("compared_revision", {}).get("ref")
    rows = [
        f"Measured {report['date'][:10]}, {machine['cpus']}-core machine, Python {machine['python']}, "
        f"{report['runs']} fresh processes each, site-packages: {report['site_packages']}"
        + (f"; before → after, before being revision `{ref}` timed in the same run." if ref else "."),
        "",
        f"| | median ms (wall) | {TIMES} baseline | CPU ms | {TIMES} baseline (CPU) | modules loaded |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def cell(row: dict[str, Any], key: str, before: dict[str, Any] | None) -> str:
        now = f"{row[key]:g}"
        return f"{before[key]:g} → {now}" if before else now

    for row in [report["baseline"], *report["functions"]]:
        before = compared.get(row["function"])
        keys = ("median_ms", "ratio", "cpu_median_ms", "cpu_ratio", "modules")
        rows.append(f"| {row['function']} | " + " | ".join(cell(row, key, before) for key in keys) + " |")
    return "\n".join(rows)


def capacity(_: dict[str, Any]) -> str:
    """The capacity model of the prod environment (`make capacity ENV=prod`), fed by reports/cost.json."""
    from saga_ops import capacity as model

    template = model.load(model.TEMPLATE_PATH)
    environment = model.load_environment("prod", template=template)
    capacity = model.model(environment, model.load_per_order(ROOT / "reports" / "cost.json"), template)
    return "```\n" + str(model.render(capacity)).rstrip("\n") + "\n```"


def moto_patches(_: dict[str, Any]) -> str:
    """Every change the local stack makes to moto, from its registry (`saga-local patches --markdown`)."""
    from saga_local.core import patches

    return str(patches.describe(markdown=True))


RENDERERS: dict[tuple[str, str | None], Callable[[dict[str, Any]], str]] = {
    ("saga-local", "patches"): moto_patches,
    ("reports/cost.json", None): cost,
    ("reports/cost.json", "target"): cost_target,
    ("reports/cost.json", "levers"): cost_levers,
    ("reports/cost.json", "capacity"): capacity,
    ("reports/local-saga.json", None): local_saga,
    ("reports/cold-start.json", None): cold_start,
    ("reports/cold-start-lambda-site.json", None): cold_start,
}


# ---------------------------------------------------------------- pages


def render(text: str, root: Path = ROOT) -> str:
    """The page with every generated block rewritten from its report."""

    def replace(match: re.Match[str]) -> str:
        key = (match["report"], match["view"])
        if key not in RENDERERS:
            raise ValueError(f"no table for {' '.join(k for k in key if k)} (known: {sorted(map(str, RENDERERS))})")
        source = root / match["report"]
        report = json.loads(source.read_text(encoding="utf-8")) if source.suffix == ".json" else {}
        return match["open"] + RENDERERS[key](report).rstrip("\n") + "\n" + match["close"]

    return MARKER.sub(replace, text)


def stale(root: Path = ROOT) -> list[Path]:
    """The pages whose generated tables differ from their reports."""
    return [page for page in pages(root) if render(text := page.read_text(encoding="utf-8"), root) != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is out of date")
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale()
        for page in out_of_date:
            print(f"{page.relative_to(ROOT)}: a generated table differs from its report; run "
                  f"benchmarks/report_tables.py", file=sys.stderr)  # fmt: skip
        return 1 if out_of_date else 0
    for page in pages():
        text = page.read_text(encoding="utf-8")
        if (new := render(text)) != text:
            page.write_text(new, encoding="utf-8")
            print(f"rewrote {page.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
