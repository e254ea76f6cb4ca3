"""The Locust load test, headless for a few seconds against the e2e local stack: every scenario gets its
expected outcome, the reports are written, and a missed threshold fails the process."""

import json
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.stack import LocalStackHandle


def _locust(stack: LocalStackHandle, reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"),
        "--headless", "--only-summary", "-u", "1", "-r", "1", "--csv", str(reports / "orders"),
        "--html", str(reports / "orders.html"), "--summary-json", str(reports / "summary.json"), *args,
    ]  # fmt: skip
    env = {**stack.environment, "ORDER_API_URL": stack.api_url, "ORDER_API_KEY": stack.api_key}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False)


def test_a_short_run_gets_every_expected_outcome(local_stack: LocalStackHandle, tmp_path: Path) -> None:
    mix = "confirmed=4,out_of_stock=2,declined=2,replayed=2"
    result = _locust(local_stack, tmp_path, "--run-time", "6s", "--rate", "1.5", "--mix", mix, "--seed", "7",
                     "--p95-ms", "20000", "--min-rps", "0")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["outcomes"]["unexpected"] == 0, summary["errors"]
    assert summary["requests"] >= 6
    assert summary["outcomes"]["confirmed"] > 0
    assert sum(summary["outcomes"].values()) == summary["requests"]
    assert summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert summary["passed"] is True
    assert "Thresholds: passed" in result.stdout
    stats = (tmp_path / "orders_stats.csv").read_text()
    assert "/orders confirmed" in stats
    assert f",Aggregated,{summary['requests']},0," in stats  # the drained last requests are in the CSV too
    assert (tmp_path / "orders.html").stat().st_size > 0


def test_a_missed_threshold_fails_the_run(local_stack: LocalStackHandle, tmp_path: Path) -> None:
    result = _locust(local_stack, tmp_path, "--run-time", "1s", "--rate", "1", "--mix", "confirmed=1",
                     "--warmup", "0", "--p95-ms", "1")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    assert "Thresholds: FAILED: p95" in result.stdout
    assert json.loads((tmp_path / "summary.json").read_text())["violations"][0].endswith("(--p95-ms)")
