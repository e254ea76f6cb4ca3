"""Benchmark (not a test): the local stack's start-up time and the saga's latency through the local API.

    .venv/bin/python benchmarks/local_saga.py [--orders 50] [--concurrency 1 4]

Starts `python -m saga_local up` on free ports (a running dev stack is left alone), times it until it is
ready, then places confirmed orders through the HTTP API at each concurrency and prints the median and
p95 latency and the throughput, measured in this one run. Writes reports/local-saga.json.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from saga_local.launch import launched_stack  # noqa: E402


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _order(api_url: str, api_key: str) -> tuple[int, float]:
    body = {"customerId": "bench", "items": [{"sku": "SKU-3", "quantity": 1}], "payment": {"token": "tok_visa"}}
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{api_url}/orders", data=json.dumps(body).encode(), method="POST",
        headers={"x-api-key": api_key, "Idempotency-Key": f"bench-{uuid.uuid4()}", "Content-Type": "application/json"},
    )  # fmt: skip
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310  # nosec B310  # loopback
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=50, help="orders per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()

    with launched_stack() as stack:
        startup_s, outputs = stack.startup_seconds, stack.outputs
        print(f"start-up: {startup_s:.2f} s (process start to 'Local stack ready')")
        _order(outputs["LocalApiUrl"], outputs["ApiKey"])  # the first order warms each worker's clients
        results = []
        for concurrency in args.concurrency:
            began = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                runs = list(pool.map(lambda _: _order(outputs["LocalApiUrl"], outputs["ApiKey"]), range(args.orders)))
            elapsed = time.perf_counter() - began
            latencies = [ms for status, ms in runs if status == 201]
            row = {
                "concurrency": concurrency,
                "orders": args.orders,
                "confirmed": len(latencies),
                "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
                "p95_ms": round(_percentile(latencies, 0.95), 1) if latencies else None,
                "orders_per_second": round(args.orders / elapsed, 2),
                "statuses": {str(s): [r[0] for r in runs].count(s) for s in sorted({r[0] for r in runs})},
            }
            results.append(row)
            print(f"concurrency {concurrency:>3}: p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, "
                  f"{row['orders_per_second']} orders/s, statuses {row['statuses']}")  # fmt: skip
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "startup_seconds": round(startup_s, 2), "runs": results}  # fmt: skip
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "local-saga.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
