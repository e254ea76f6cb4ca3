"""`make loadtest`: run loadtest/locustfile.py headless against the local stack, reports in reports/loadtest/.

    .venv/bin/python -m loadtest.run [--rate 1] [--duration 60s] [-- more locust arguments]

The target: ORDER_API_URL (with ORDER_API_KEY) when set; else the running local stack of
.local/outputs.json (`make local`) when its API answers; else a local stack started for this run on free
ports (saga_local.launch, SAGA_LOCAL_TIMEOUT_SCALE=10 unless set) and stopped after it.
Exits with Locust's exit code: 1 when a threshold is missed, 2 for a bad argument.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from loadtest.settings import KEY_ENV, URL_ENV, default_outputs_file
from saga_local.launch import launched_stack

ROOT = Path(__file__).resolve().parent.parent

TIMEOUT_SCALE_ENV = "SAGA_LOCAL_TIMEOUT_SCALE"
REPORTS = ROOT / "reports" / "loadtest"
DURATION = re.compile(r"^(?=\d)(\d+h)?(\d+m)?(\d+s?)?$")  # Locust's --run-time: 90, 90s, 2m, 1h30m


def locust_command(rate: str, duration: str, reports: Path, extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"),
        "--headless", "--only-summary", "-u", "1", "-r", "1", "--run-time", duration, "--rate", rate,
        "--csv", str(reports / "orders"), "--html", str(reports / "orders.html"),
        "--summary-json", str(reports / "summary.json"), *extra,
    ]  # fmt: skip


def _locust(command: list[str], url: str, key: str | None) -> int:
    env = {**os.environ, URL_ENV: url, **({KEY_ENV: key} if key else {})}
    return subprocess.call(command, cwd=ROOT, env=env)  # noqa: S603 - our own command line


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


def _running_local_stack() -> dict[str, str] | None:
    outputs_file = default_outputs_file()
    try:
        outputs = json.loads(outputs_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = outputs.get("LocalApiUrl")
    return outputs if isinstance(url, str) and _answers(url) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", default="1", help="orders per second (default 1: the local stack manages ~1.5)")
    parser.add_argument("--duration", default="60s", help="Locust --run-time: 30s, 2m, 1h30m (default 60s)")
    parser.add_argument("--reports", type=Path, default=REPORTS, help="folder of the CSV, HTML and JSON reports")
    parser.add_argument("extra", nargs="*", help="after --: more locust arguments (--mix, --p95-ms, ...)")
    args = parser.parse_args(argv)
    try:
        if float(args.rate) <= 0:
            raise ValueError
    except ValueError:
        parser.error(f"--rate (RATE) must be a positive number of orders per second, got {args.rate!r}")
    if not DURATION.match(args.duration):
        parser.error(f"--duration (DURATION) must be like 30s, 2m or 1h30m, got {args.duration!r}")
    command = locust_command(args.rate, args.duration, args.reports, args.extra)

    if os.environ.get(URL_ENV):
        print(f"Load test against {os.environ[URL_ENV]} ({URL_ENV})", flush=True)
        return _locust(command, os.environ[URL_ENV], os.environ.get(KEY_ENV))
    outputs = _running_local_stack()
    if outputs is not None:
        print(f"Load test against the running local stack {outputs['LocalApiUrl']}", flush=True)
        return _locust(command, outputs["LocalApiUrl"], outputs["ApiKey"])
    # Every emulated Lambda shares this machine's cores (on AWS each has its own): like the e2e tests, give
    # Tasks 10x their TimeoutSeconds unless told otherwise, or a busy machine measures timeouts, not the saga.
    scale = os.environ.get(TIMEOUT_SCALE_ENV, "10")
    print(f"No local stack running: starting one for this run ({TIMEOUT_SCALE_ENV}={scale})", flush=True)
    with launched_stack({TIMEOUT_SCALE_ENV: scale}) as stack:
        print(f"Local stack ready in {stack.startup_seconds:.1f} s: {stack.outputs['LocalApiUrl']}", flush=True)
        return _locust(command, stack.outputs["LocalApiUrl"], stack.outputs["ApiKey"])


if __name__ == "__main__":
    sys.exit(main())
