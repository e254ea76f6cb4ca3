"""What an order costs to run on AWS, per saga path, counted from the real calls of a local run.

    .venv/bin/python -m benchmarks.cost [--runs 3] [--prices benchmarks/prices-us-east-1.json]   # make cost

Starts the local stack in this process (free ports, its own state folder) with a meter on it
(saga_local.cost), places orders one at a time, path by path, waits after each until the stack is
quiet (the outbox relay and the SNS->SQS audit path included), and takes the meter's counts for that
order. Per path, the median of the runs is priced at the list prices of one dated file, twice: DynamoDB
on-demand, and DynamoDB on provisioned capacity with auto scaling at 70 % utilisation (steady load). The
application's own SQS requests are the SNS deliveries into the audit queue; the example consumer's receive and
delete are priced on a line of their own, outside the totals. Prints a table and writes reports/cost.json.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saga_local.cost.meter import Meter
from saga_local.cost.prices import (
    CONSUMER_ITEM,
    GIB,
    LINE_ITEMS,
    PROVISIONED_ITEMS,
    TARGET_UTILISATION,
    consumer_cost_per_million,
    consumer_requests,
    cost_per_million,
    load_prices,
    provisioned_cost,
    provisioned_per_million_units,
    unit_price,
    usage_total,
)
from saga_local.launch import free_port
from saga_local.signing import Caller, signed_request

ROOT = Path(__file__).resolve().parent.parent

PRICES = ROOT / "benchmarks" / "prices-us-east-1.json"
PROVIDER_ITEM = "DynamoDB units of the payment provider simulator (a real provider's own systems)"
REPORT = ROOT / "reports" / "cost.json"
TARGET_USD_PER_MILLION = 15.0  # a confirmed order, on-demand (docs/cost.md, against the target)
PROVISIONED_GOAL_USD_PER_MILLION = 10.0
BURST = 8  # orders placed at once by the burst path: the outbox relay batches what arrives together
QUIET_SECONDS = 2.0  # longer than the relay's batching window (1 s) plus a stream poll
SETTLE_LIMIT_SECONDS = 20.0


def _body(sku: str = "SKU-1", quantity: int = 1, card: str = "tok_visa") -> dict[str, Any]:
    """An order body; `card` is a payment simulator token (not a secret)."""
    return {"customerId": "cost", "items": [{"sku": sku, "quantity": quantity}], "payment": {"token": card}}


# path -> (request body, the rules SAGA_LOCAL_FAULTS_FILE holds while it runs)
COMPENSATION_FAILS = [
    {"function": "InventoryFunction", "match": {"action": "ReleaseInventory"}, "error": "InventoryUnavailable"}
]
PATHS: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "confirmed": (_body(), []),
    "out_of_stock": (_body(sku="SKU-7", quantity=3), []),
    "payment_declined": (_body(card="tok_chargeDeclined"), []),
    "payment_unavailable_compensated": (_body(card="tok_unavailable"), []),
    "replayed_idempotency_key": (_body(), []),
    "confirmed_in_a_burst": (_body(), []),
    "compensation_failed": (_body(card="tok_unavailable"), COMPENSATION_FAILS),
}


class Client:
    """Places orders signed as the first local caller, with the API key (as every client of the API does)."""

    def __init__(self, outputs: dict[str, Any]) -> None:
        self.url, self.key, self.caller = outputs["LocalApiUrl"], outputs["ApiKey"], Caller.from_outputs(outputs)

    def place(self, body: dict[str, Any], idempotency_key: str) -> int:
        headers = {"x-api-key": self.key, "Idempotency-Key": idempotency_key, "Content-Type": "application/json"}
        request = signed_request("POST", f"{self.url}/orders", json.dumps(body).encode(), headers, self.caller)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310  # nosec B310  # loopback
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)


def settle(meter: Meter) -> dict[str, float]:
    """Wait until nothing is counted for QUIET_SECONDS (the relay and X-Ray run after the answer)."""
    last, quiet_since, began = meter.snapshot(), time.monotonic(), time.monotonic()
    while time.monotonic() - quiet_since < QUIET_SECONDS and time.monotonic() - began < SETTLE_LIMIT_SECONDS:
        time.sleep(0.25)
        now = meter.snapshot()
        if now != last:
            last, quiet_since = now, time.monotonic()
    return last


def measure(meter: Meter, action: Callable[[], int]) -> tuple[int, dict[str, float]]:
    before = settle(meter)
    status = action()
    return status, Meter.delta(before, settle(meter))


def measure_burst(meter: Meter, client: Client, body: dict[str, Any]) -> tuple[list[int], dict[str, float]]:
    """BURST orders placed at once, their counts divided by BURST: one order's share when orders arrive together
    (the relay's batching window then carries several orders' records in one invocation, as on AWS under load)."""
    keys = [f"cost-burst-{uuid.uuid4()}" for _ in range(BURST)]
    statuses: list[int] = []

    def place_all() -> int:
        with ThreadPoolExecutor(max_workers=BURST) as pool:
            statuses.extend(pool.map(lambda key: client.place(body, key), keys))
        return max(statuses)

    _, usage = measure(meter, place_all)
    return statuses, {name: value / BURST for name, value in usage.items()}


def median_counts(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({key for run in runs for key in run})
    return {key: statistics.median(run.get(key, 0.0) for run in runs) for key in keys}


def summary(counts: dict[str, float]) -> dict[str, Any]:
    """The per-order counts, grouped the way AWS bills them."""

    def by(prefix: str, suffix: str) -> dict[str, float]:
        return {k.split(".")[1]: v for k, v in counts.items() if k.startswith(prefix) and k.endswith(suffix) and v}

    return {
        "api_requests": counts.get("apigateway.requests", 0),
        "express_requests": counts.get("stepfunctions.requests", 0),
        "express_billed_ms": counts.get("stepfunctions.billed_ms", 0),
        "state_transitions": counts.get("stepfunctions.transitions", 0),
        "lambda_invocations": by("lambda.", ".invocations"),
        "lambda_billed_ms": by("lambda.", ".billed_ms"),
        "dynamodb_wcu": by("dynamodb.", ".wcu"),
        "dynamodb_rcu": by("dynamodb.", ".rcu"),
        "sns_publishes": counts.get("sns.requests", 0),
        "sqs_messages_delivered": counts.get("sqs.messages_in_queues", 0),
        "sqs_delivery_requests": counts.get("sqs.delivery_requests", 0),
        "sqs_application_requests": counts.get("sqs.application.requests", 0),
        "sqs_consumer_requests": consumer_requests(counts)[0],
        "log_bytes_shipped": by("logs.", ".shipped_bytes"),
        "xray_traces_before_sampling": counts.get("xray.traces", 0),
    }


@dataclass(frozen=True)
class _PerOrder:
    """One order's measured counts and the list prices: the arithmetic the levers share."""

    counts: dict[str, float]
    prices: dict[str, Any]

    def per_million(self, name: str) -> float:
        """USD per million units of `name`."""
        return unit_price(self.prices, name) * 1_000_000

    def total(self, pattern: str) -> float:
        return usage_total(self.counts, pattern)

    @property
    def log_gb(self) -> float:
        """USD per million bytes of log ingestion."""
        return self.per_million("cloudwatch_logs_ingestion_gb") / GIB


def levers(counts: dict[str, float], prices: dict[str, Any], sampling: float) -> list[dict[str, Any]]:
    """What each lever would save per million confirmed orders, from the measured counts."""
    order = _PerOrder(counts, prices)
    return [
        *_log_levers(order),
        _xray_lever(order, sampling),
        *_write_levers(order),
        *_costs_kept(order),
    ]


def _log_levers(order: _PerOrder) -> list[dict[str, Any]]:
    total = order.total
    system = total(r"logs\.[^.]+\.system_bytes")
    system_shipped = system if total(r"logs\.[^.]+\.shipped_bytes") >= system + total(r"logs\.[^.]+\.emf_bytes") else 0
    return [
        {
            "lever": "Lambda system log lines (START/END/REPORT) dropped: LogFormat JSON, SystemLogLevel WARN",
            "kind": "config (template.yaml)",
            "bytes_per_order": system,
            "saving_usd_per_million": round(system_shipped * order.log_gb, 4),
            "note": "0 when already applied: the shipped bytes no longer include them",
        },
        {
            "lever": "INFO application logs off (POWERTOOLS_LOG_LEVEL=WARNING); EMF metric lines kept",
            "kind": "config, trades away the INFO trail of each step (errors, metrics and traces stay)",
            "bytes_per_order": total(r"logs\.[^.]+\.app_info_bytes"),
            "saving_usd_per_million": round(total(r"logs\.[^.]+\.app_info_bytes") * order.log_gb, 4),
            "note": "ApplicationLogLevel WARN would do it too but also drops EMF lines (no level: Lambda takes INFO)",
        },
    ]


def _xray_lever(order: _PerOrder, sampling: float) -> dict[str, Any]:
    traces = order.counts.get("xray.traces", 0)
    return {
        "lever": "X-Ray: a sampling rule at 1 % instead of the default 5 %",
        "kind": "config (AWS::XRay::SamplingRule)",
        "traces_per_order": traces,
        "saving_usd_per_million": round(traces * (sampling - 0.01) * order.per_million("xray_trace_recorded"), 4),
    }


def _write_levers(order: _PerOrder) -> list[dict[str, Any]]:
    write_unit = order.per_million("dynamodb_on_demand_write_unit")
    wcu = order.total(r"dynamodb\.[^.]+\.wcu")
    # One provisioned WCU-hour at 70 % utilisation (auto scaling's usual target) serves 0.7 * 3600 writes.
    provisioned_per_million_wcu = provisioned_per_million_units(order.prices, "dynamodb_provisioned_wcu_hour")
    return [
        {
            "lever": "Every item written under 1 KB",
            "kind": "code/data (item attributes)",
            "writes_over_1kb_per_order": order.total(r"dynamodb\.[^.]+\.writes_over_1kb"),
            "saving_usd_per_million": round(order.total(r"dynamodb\.[^.]+\.wcu_over_1kb") * write_unit, 4),
        },
        {
            "lever": "Provisioned capacity with auto scaling (70 % utilisation) instead of on-demand, writes",
            "kind": "config, but throttles on bursts above the provisioned rate: needs steady traffic",
            "wcu_per_order": wcu,
            "saving_usd_per_million": round(wcu * (write_unit - provisioned_per_million_wcu), 4),
        },
    ]


def _costs_kept(order: _PerOrder) -> list[dict[str, Any]]:
    """What a part costs rather than what a change saves: fixed by the requirements, or an architecture change."""
    counts, p = order.counts, order.per_million
    relay = [k for k in counts if k.startswith("lambda.OutboxRelay")]
    relay_invocations = sum(counts[k] for k in relay if k.endswith(".invocations"))
    relay_cost = relay_invocations * p("lambda_request") + sum(
        counts[k] * p("lambda_gb_second_arm64") for k in relay if ".gb_seconds." in k
    )
    return [
        {
            "lever": "Idempotency records: the idempotency table's share of the writes",
            "kind": "kept where a condition cannot give idempotency (the payment provider call); every other step's"
            " conditional write is its idempotency",
            "wcu_per_order": counts.get("dynamodb.IdempotencyTable.wcu", 0),
            "cost_usd_per_million": round(
                counts.get("dynamodb.IdempotencyTable.wcu", 0) * p("dynamodb_on_demand_write_unit"), 4
            ),
        },
        {
            "lever": "Outbox relay as a direct integration (EventBridge Pipes stream->SNS) instead of a Lambda",
            "kind": "architecture; at most the relay's Lambda requests and duration (Pipes bills its own requests)",
            "relay_invocations_per_order": relay_invocations,
            "relay_lambda_usd_per_million": round(relay_cost, 4),
        },
        {
            "lever": "API access log: fewer fields in the Format",
            "kind": "config (AccessLogSetting.Format)",
            "bytes_per_order": counts.get("logs.ApiAccess.shipped_bytes", 0),
            "cost_usd_per_million": round(counts.get("logs.ApiAccess.shipped_bytes", 0) * order.log_gb, 4),
        },
    ]


def main() -> int:
    parser = _parser()
    args = parser.parse_args()
    if args.markdown:
        try:
            print(markdown(json.loads(args.out.read_text())))
        except (OSError, ValueError, KeyError) as error:
            parser.error(f"{args.out}: not a report of this script ({error})")
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        prices = load_prices(args.prices)
    except ValueError as error:
        parser.error(str(error))
    sampling = float(prices["prices"]["xray_default_sampling"]["rate"])

    results = measure_paths(args.paths, args.runs, prices, sampling)
    report = _report(results, prices, args, sampling)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_summary(results, report)
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="orders measured per path (the median is kept)")
    parser.add_argument("--prices", type=Path, default=PRICES)
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--paths", nargs="+", choices=sorted(PATHS), default=list(PATHS))
    parser.add_argument("--markdown", action="store_true", help="print the README's tables from --out, run nothing")
    return parser


def measure_paths(paths: list[str], runs: int, prices: dict[str, Any], sampling: float) -> dict[str, Any]:
    """Start a metered local stack in this process, measure each path `runs` times, stop the stack."""
    folder = Path(tempfile.mkdtemp(prefix="saga-cost-"))
    faults_file = folder / "faults.json"
    faults_file.write_text('{"faults": []}')
    os.environ["SAGA_LOCAL_FAULTS_FILE"] = str(faults_file)  # read by the Lambda runtime the stack starts
    # A Task timeout on this shared 2-core machine is not one AWS would have: the retry it starts would be
    # counted as if it were part of the path. Give every Task more time (the README's setting for load).
    os.environ.setdefault("SAGA_LOCAL_TIMEOUT_SCALE", "5")
    from saga_local.core import config
    from saga_local.stack import LocalAws

    settings = config.load(
        aws_port=free_port(), api_port=free_port(), xray_port=free_port(), state_dir=folder / "state"
    )
    local = LocalAws(settings)
    results: dict[str, Any] = {}
    try:
        local.start()
        meter = Meter.for_stack(local)
        client = Client(json.loads(settings.outputs_file.read_text()))
        for body, _ in PATHS.values():  # warm every worker and code path once, unmeasured
            client.place(body, f"warm-{uuid.uuid4()}")
        for path in paths:
            results[path] = measure_path(client, meter, faults_file, path, runs, prices, sampling)
            result = results[path]
            on_demand, provisioned = result["total_usd_per_million_orders"], result["provisioned"]
            print(f"{path}: HTTP {result['http_status']}, ${on_demand:.2f} per million on-demand, "
                  f"${provisioned['total_usd_per_million_orders']:.2f} provisioned", flush=True)  # fmt: skip
        meter.close()
    finally:
        local.stop()
    return results


def measure_path(
    client: Client,
    meter: Meter,
    faults_file: Path,
    path: str,
    runs: int,
    prices: dict[str, Any],
    sampling: float,
) -> dict[str, Any]:
    """One path's report entry: the median of `runs` orders' counts, and what that costs per million orders."""
    body, faults = PATHS[path]
    _set_faults(faults_file, faults)
    usages, statuses = [], []
    for _ in range(runs):
        key = f"cost-{uuid.uuid4()}"
        if path == "replayed_idempotency_key":
            client.place(body, key)  # the first request, unmeasured: the replay is what is measured
        if path == "confirmed_in_a_burst":
            burst, usage = measure_burst(meter, client, body)
            statuses += burst
        else:
            status, usage = measure(meter, lambda: client.place(body, key))  # noqa: B023 - called at once
            statuses.append(status)
        usages.append(usage)
    _set_faults(faults_file, [])
    return {"http_status": statuses, **priced(median_counts(usages), prices, sampling)}


def priced(counts: dict[str, float], prices: dict[str, Any], sampling: float) -> dict[str, Any]:
    """One order's counts priced per million orders: on-demand, then with DynamoDB provisioned at 70 %
    utilisation; the example audit consumer's requests apart, in neither total."""
    cost = cost_per_million(counts, prices, xray_sampling=sampling)
    provisioned = provisioned_cost(counts, prices, cost)
    consumer, basis = consumer_requests(counts)
    return {
        "per_order": summary(counts),
        "counts": counts,
        "usd_per_million_orders": cost,
        "total_usd_per_million_orders": _total(cost),
        "total_without_durations": _total(cost, durations=False),
        "provisioned": {
            "usd_per_million_orders": {item: provisioned[item] for item in PROVISIONED_ITEMS},
            "total_usd_per_million_orders": _total(provisioned),
            "total_without_durations": _total(provisioned, durations=False),
        },
        "example_consumer_not_shipped": {
            "item": CONSUMER_ITEM,
            "sqs_requests_per_order": consumer,
            "basis": basis,
            "usd_per_million_orders": consumer_cost_per_million(counts, prices),
        },
        "provider_simulator_not_shipped": provider_simulator(counts, prices),
    }


def provider_simulator(counts: dict[str, float], prices: dict[str, Any]) -> dict[str, Any]:
    """The payment simulator's own DynamoDB records: it stands in for an external provider, which bills per charge
    and keeps its records in its own systems, so they are priced apart, in no total."""
    wcu, rcu = counts.get("provider.simulator.wcu", 0.0), counts.get("provider.simulator.rcu", 0.0)
    usd = wcu * unit_price(prices, "dynamodb_on_demand_write_unit") + rcu * unit_price(
        prices, "dynamodb_on_demand_read_unit"
    )
    return {"item": PROVIDER_ITEM, "wcu_per_order": wcu, "rcu_per_order": rcu,
            "usd_per_million_orders": round(usd * 1e6, 4)}  # fmt: skip


def _total(cost: dict[str, float], *, durations: bool = True) -> float:
    return round(sum(v for k, v in cost.items() if durations or not k.endswith("duration")), 2)


def print_summary(results: dict[str, Any], report: dict[str, Any]) -> None:
    """The cost table, then the confirmed order's gap to the target and each lever's figure."""
    print(_table(results))
    if "confirmed" in results:
        gap = report["target"]
        print(
            f"\nconfirmed order: ${gap['measured_usd_per_million']:.2f} per million on-demand "
            f"(${gap['measured_without_durations']:.2f} without Lambda and Express durations), "
            f"target ${TARGET_USD_PER_MILLION:.2f}: gap ${gap['gap_usd_per_million']:+.2f}; "
            f"provisioned ${gap['provisioned_usd_per_million']:.2f}, goal ${PROVISIONED_GOAL_USD_PER_MILLION:.2f}"
        )
        if "confirmed_in_a_burst" in results:
            burst = results["confirmed_in_a_burst"]
            print(f"confirmed in a burst of {BURST}: ${burst['total_usd_per_million_orders']:.2f} on-demand, "
                  f"${burst['provisioned']['total_usd_per_million_orders']:.2f} provisioned")  # fmt: skip
        for lever in report["levers"]:
            saving = lever.get(
                "saving_usd_per_million", lever.get("cost_usd_per_million", lever.get("relay_lambda_usd_per_million"))
            )
            print(f"  {saving:>8.2f}  {lever['lever']}")


def _set_faults(path: Path, rules: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"faults": rules}))
    time.sleep(0.05)  # the injector re-reads the file when its modification time changes


def _report(
    results: dict[str, Any], prices: dict[str, Any], args: argparse.Namespace, sampling: float
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "command": f"make cost  (.venv/bin/python -m benchmarks.cost --runs {args.runs})",
        "measured_on": time.strftime("%Y-%m-%d"),
        "prices_file": str(args.prices.relative_to(ROOT) if args.prices.is_relative_to(ROOT) else args.prices),
        "prices_as_of": prices["as_of"],
        "region": prices["region"],
        "runs_per_path": args.runs,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "timeout_scale": os.environ.get("SAGA_LOCAL_TIMEOUT_SCALE"),
        },
        "assumptions": {
            "xray_sampling": f"{sampling:.0%} of traces recorded (the default rule at scale)",
            "audit_consumer": "the audit queue's consumer is an example this application does not ship: its"
            " requests (measured if one ran, else a receive and a delete per message, unbatched) are priced under"
            " example_consumer_not_shipped and left out of every total",
            "provisioned": f"DynamoDB on provisioned capacity with auto scaling at {TARGET_UTILISATION:.0%} target"
            " utilisation: a unit-hour serves 0.7 x 3600 units; assumes steady load (a burst above the provisioned"
            " rate is throttled until auto scaling raises it); everything else as on-demand",
            "local_durations": "Lambda and Express durations are this shared 2-core machine's, with every call going"
            " through moto: an upper bound, not what AWS would bill; see total_without_durations",
            "not_per_order": "fixed monthly costs (alarms, custom metrics, KMS key, storage) are left out",
        },
        "line_items": {
            **LINE_ITEMS,
            "provisioned DynamoDB writes / reads": "the same units at the provisioned WCU-/RCU-hour price divided by"
            f" {TARGET_UTILISATION} x 3600 units an hour",
            CONSUMER_ITEM: "SQS FIFO requests of a consumer receiving and deleting each audit message: not in a total",
            PROVIDER_ITEM: "on-demand write and read units of the items the payment simulator keeps (SIMULATOR# keys in"
            " the payments table): what a real provider keeps in its own systems: not in a total",
        },
        "paths": results,
    }
    if "confirmed" in results:
        measured = results["confirmed"]["total_usd_per_million_orders"]
        report["target"] = {
            "usd_per_million_confirmed": TARGET_USD_PER_MILLION,
            "measured_usd_per_million": measured,
            "measured_without_durations": results["confirmed"]["total_without_durations"],
            "gap_usd_per_million": round(measured - TARGET_USD_PER_MILLION, 2),
            "provisioned_usd_per_million": results["confirmed"]["provisioned"]["total_usd_per_million_orders"],
            "provisioned_goal_usd_per_million": PROVISIONED_GOAL_USD_PER_MILLION,
        }
        report["levers"] = levers(results["confirmed"]["counts"], prices, sampling)
    return report


def markdown(report: dict[str, Any]) -> str:
    """The README's tables: USD per million orders by line item and path, then the per-order counts."""
    paths = report["paths"]
    names = list(paths)
    rows = _cost_rows(paths, names)
    rows += [
        "",
        "| per order | " + " | ".join(n.replace("_", " ") for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]

    def cell(name: str, key: str) -> str:
        value = paths[name]["per_order"][key]
        if isinstance(value, dict):
            parts = ", ".join(f"{_short(k)} {v:g}" for k, v in value.items())
            return f"{sum(value.values()):g} ({parts})"
        return f"{value:g}"

    for key in ("lambda_invocations", "lambda_billed_ms", "dynamodb_wcu", "dynamodb_rcu", "express_billed_ms",
                "state_transitions", "sns_publishes", "sqs_messages_delivered", "log_bytes_shipped",
                "xray_traces_before_sampling"):  # fmt: skip
        rows.append(f"| {key.replace('_', ' ')} | " + " | ".join(cell(n, key) for n in names) + " |")
    if "levers" in report:
        rows += ["", "| lever | USD per million |", "|---|---:|"]
        for lever in report["levers"]:
            figure = next(v for k, v in lever.items() if k.endswith("usd_per_million"))
            rows.append(f"| {lever['lever']} | {figure:.2f} |")
    return "\n".join(rows)


def _short(resource: str) -> str:
    """A resource as the tables name it: `OrdersTable/Sweep` is the Orders table's index Sweep."""
    table, _, index = resource.partition("/")
    name = table.removesuffix("Function").removesuffix("Table")
    return f"{name} index {index}" if index else name


def _cost_rows(paths: dict[str, Any], names: list[str]) -> list[str]:
    """USD per million orders by line item: on-demand and its totals, the provisioned DynamoDB lines and their
    totals, then the example consumer's line (in no total)."""

    def row(label: str, *keys: str, bold: bool = False) -> str:
        mark = "**" if bold else ""
        values = []
        for name in names:
            value: Any = paths[name]
            for key in keys:
                value = value[key]
            values.append(f"{mark}{value:.2f}{mark}")
        return f"| {mark}{label}{mark} | " + " | ".join(values) + " |"

    rows = ["| line item | " + " | ".join(n.replace("_", " ") for n in names) + " |", "|---|" + "---:|" * len(names)]
    for item in next(iter(paths.values()))["usd_per_million_orders"]:
        label = f"{item} (on-demand)" if item in PROVISIONED_ITEMS else item
        rows.append(row(label, "usd_per_million_orders", item))
    rows.append(row("total, on-demand", "total_usd_per_million_orders", bold=True))
    rows.append(row("total without durations", "total_without_durations"))
    for item in PROVISIONED_ITEMS:
        rows.append(row(f"{item}, provisioned at 70 %", "provisioned", "usd_per_million_orders", item))
    rows.append(row("total, provisioned", "provisioned", "total_usd_per_million_orders", bold=True))
    rows.append(row("total without durations, provisioned", "provisioned", "total_without_durations"))
    consumer = "example_consumer_not_shipped"
    rows.append(row(f"{CONSUMER_ITEM}, in no total", consumer, "usd_per_million_orders"))
    rows.append(row(f"{PROVIDER_ITEM}, in no total", "provider_simulator_not_shipped", "usd_per_million_orders"))
    return rows


def _table(results: dict[str, Any]) -> str:
    paths = list(results)
    items = list(next(iter(results.values()))["usd_per_million_orders"]) if results else []
    width = max(len(i) for i in [*items, "X-Ray traces (before sampling)", "example consumer, not shipped"]) + 2
    head = "USD per million orders".ljust(width) + "".join(f"{p[:14]:>16}" for p in paths)
    lines = [head, "-" * len(head)]
    for item in items:
        lines.append(item.ljust(width) + "".join(f"{results[p]['usd_per_million_orders'][item]:>16.2f}" for p in paths))
    lines.append("total".ljust(width) + "".join(f"{results[p]['total_usd_per_million_orders']:>16.2f}" for p in paths))
    lines.append("total without durations".ljust(width)
                 + "".join(f"{results[p]['total_without_durations']:>16.2f}" for p in paths))  # fmt: skip
    lines.append("total, DynamoDB provisioned".ljust(width) + "".join(
        f"{results[p]['provisioned']['total_usd_per_million_orders']:>16.2f}" for p in paths))  # fmt: skip
    lines.append("example consumer, not shipped".ljust(width) + "".join(
        f"{results[p]['example_consumer_not_shipped']['usd_per_million_orders']:>16.2f}" for p in paths))  # fmt: skip
    lines.append("payment simulator, not shipped".ljust(width) + "".join(
        f"{results[p]['provider_simulator_not_shipped']['usd_per_million_orders']:>16.2f}" for p in paths))  # fmt: skip
    lines.append("")
    counts = [
        ("API requests", "api_requests"),
        ("Express requests", "express_requests"),
        ("Express billed ms", "express_billed_ms"),
        ("state transitions", "state_transitions"),
        ("SNS publishes", "sns_publishes"),
        ("SQS messages delivered", "sqs_messages_delivered"),
        ("X-Ray traces (before sampling)", "xray_traces_before_sampling"),
    ]
    lines.append("per order".ljust(width) + "".join(f"{p[:14]:>16}" for p in paths))
    for label, key in counts:
        lines.append(label.ljust(width) + "".join(f"{results[p]['per_order'][key]:>16g}" for p in paths))
    for label, key in (("Lambda invocations", "lambda_invocations"), ("Lambda billed ms", "lambda_billed_ms"),
                       ("DynamoDB WCU", "dynamodb_wcu"), ("DynamoDB RCU", "dynamodb_rcu"),
                       ("log bytes shipped", "log_bytes_shipped")):  # fmt: skip
        lines.append(label.ljust(width) + "".join(f"{sum(results[p]['per_order'][key].values()):>16g}" for p in paths))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
