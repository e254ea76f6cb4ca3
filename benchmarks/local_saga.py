"""Benchmark (not a test): the local stack's start-up time and the saga's latency through the local API.

    .venv/bin/python -m benchmarks.local_saga [--orders 60] [--concurrency 1 8]

Starts `saga-local up` on free ports (a running dev stack is left alone), times it until it is
ready, then places confirmed orders through the HTTP API at each concurrency and prints the median and
p95 latency, the throughput, and the CPU time per order of the stack's process (moto, the API emulator, the
state machine interpreter) and of the functions (every Lambda worker), measured in this one run, next to the
targets: p50 <= 150 ms at concurrency 1; >= 8 orders/s at concurrency 8 with no error; the stack's CPU per order
at most the functions' own (their ratio <= 1). Writes reports/local-saga.json.
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
from typing import Any

import psutil

from saga_local.launch import launched_stack
from saga_local.signing import Caller, signed_request

ROOT = Path(__file__).resolve().parent.parent


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _order(outputs: dict[str, Any]) -> tuple[int, float]:
    """One confirmed order, signed as the first local caller: its HTTP status and latency in ms."""
    body = {"customerId": "bench", "items": [{"sku": "SKU-3", "quantity": 1}], "payment": {"token": "tok_visa"}}
    headers = {"x-api-key": outputs["ApiKey"], "Idempotency-Key": f"bench-{uuid.uuid4()}",
               "Content-Type": "application/json"}  # fmt: skip
    url, caller = f"{outputs['LocalApiUrl']}/orders", Caller.from_outputs(outputs)
    request = signed_request("POST", url, json.dumps(body).encode(), headers, caller)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310  # nosec B310  # loopback
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, (time.perf_counter() - started) * 1000


TARGET_P50_MS = 150.0  # at concurrency 1
TARGET_ORDERS_PER_SECOND = 8.0  # at TARGET_CONCURRENCY, with no error
TARGET_CONCURRENCY = 8
TARGET_CPU_RATIO = 1.0  # the stack's CPU per order over the functions' own


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU so far of the stack's process, and of its children (the Lambda workers)."""
    stack = psutil.Process(pid)
    own = stack.cpu_times()
    workers = 0.0
    for process in stack.children(recursive=True):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:  # a worker replaced meanwhile: its CPU is lost either way
            continue
        workers += times.user + times.system
    return own.user + own.system, workers


def _level(pid: int, outputs: dict[str, Any], concurrency: int, orders: int) -> dict[str, Any]:
    """`orders` confirmed orders at `concurrency`: latency, throughput, statuses and CPU per order."""
    # Unmeasured: enough concurrent orders that each function has the workers this level needs
    # (a worker's cold start costs about as much CPU as an order).
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: _order(outputs), range(2 * concurrency)))
    (stack_before, functions_before), began = _cpu_seconds(pid), time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        runs = list(pool.map(lambda _: _order(outputs), range(orders)))
    elapsed = time.perf_counter() - began
    stack_after, functions_after = _cpu_seconds(pid)
    stack_ms, functions_ms = (
        (stack_after - stack_before) * 1000 / orders,
        (functions_after - functions_before) * 1000 / orders,
    )
    latencies = [ms for status, ms in runs if status == 201]
    row = {
        "concurrency": concurrency,
        "orders": orders,
        "confirmed": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(_percentile(latencies, 0.95), 1) if latencies else None,
        "orders_per_second": round(orders / elapsed, 2),
        "cpu_ms_per_order": round(stack_ms + functions_ms, 1),
        "stack_cpu_ms_per_order": round(stack_ms, 1),
        "functions_cpu_ms_per_order": round(functions_ms, 1),
        "stack_to_functions_cpu": round(stack_ms / functions_ms, 2) if functions_ms else None,
        "statuses": {str(s): [r[0] for r in runs].count(s) for s in sorted({r[0] for r in runs})},
    }
    print(f"concurrency {concurrency:>3}: p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, "
          f"{row['orders_per_second']} orders/s, CPU per order: stack {row['stack_cpu_ms_per_order']} ms, "
          f"functions {row['functions_cpu_ms_per_order']} ms (ratio {row['stack_to_functions_cpu']}), "
          f"statuses {row['statuses']}", flush=True)  # fmt: skip
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=60, help="orders per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, TARGET_CONCURRENCY])
    args = parser.parse_args()

    load_at_start = round(os.getloadavg()[0], 2)  # other work on the machine skews every figure
    with launched_stack() as stack:
        startup_s, outputs = stack.startup_seconds, stack.outputs
        print(f"start-up: {startup_s:.2f} s (process start to 'Local stack ready')")
        results = [_level(stack.pid, outputs, concurrency, args.orders) for concurrency in args.concurrency]
    at_target = next((row for row in results if row["concurrency"] == TARGET_CONCURRENCY), None)
    targets = {
        "p50_ms_at_concurrency_1": {"target": TARGET_P50_MS, "measured": next(
            (row["p50_ms"] for row in results if row["concurrency"] == 1), None)},
        f"orders_per_second_at_concurrency_{TARGET_CONCURRENCY}_without_errors": {
            "target": TARGET_ORDERS_PER_SECOND,
            "measured": at_target["orders_per_second"] if at_target and at_target["confirmed"] == at_target["orders"]
            else None},
        f"stack_to_functions_cpu_at_concurrency_{TARGET_CONCURRENCY}": {"target": TARGET_CPU_RATIO, "measured": (
            at_target["stack_to_functions_cpu"] if at_target else None)},
    }  # fmt: skip
    for name, figures in targets.items():
        target, measured = float(figures["target"] or 0), figures["measured"]  # None when nothing was confirmed
        met = measured is not None and (measured >= target if name.startswith("orders") else measured <= target)
        figures["met"] = met
        print(f"target {name}: {figures['target']}, measured {figures['measured']}: {'met' if met else 'NOT met'}")
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                          "load_average_1m_at_start": load_at_start},
              "startup_seconds": round(startup_s, 2), "runs": results, "targets": targets}  # fmt: skip
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "local-saga.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
