"""The capacity model: for a target rate of orders per second, what each AWS limit of this application must hold.

    saga-ops capacity [--env prod] [--rate 500] [--json]      # make capacity [ENV=prod] [RATE=...]

Inputs, and where each comes from:
- the environment's parameters: samconfig.toml's `parameter_overrides` over template.yaml's defaults;
- what one order uses, MEASURED on the local stack: reports/cost.json (`make cost`; the confirmed path, median of its
  runs): Lambda invocations and billed milliseconds per function, DynamoDB write and read units per table, SNS
  publishes, SQS deliveries, API and Express requests;
- AWS's DOCUMENTED quotas (`DOCUMENTED` below, each with its source): defaults, not this account's values, which
  `saga-ops preflight` reads from the account.

The model: a function needs rate x invocations per order x seconds per invocation of concurrency, times HEADROOM;
every other limit is divided by what one order uses of it, and the smallest quotient binds first.
"""

import argparse
import json
import math
import shlex
import sys
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from saga_local.cloudformation.intrinsics import NO_VALUE, Resolver
from saga_local.cloudformation.template import TEMPLATE_PATH, load

ROOT = Path(__file__).resolve().parent.parent

SAMCONFIG = ROOT / "samconfig.toml"
COST_REPORT = ROOT / "reports" / "cost.json"
MEASURED_PATH = "confirmed"  # the path most orders take; the others are in reports/cost.json
# A step the state machine retries runs twice (a throttled or timed-out attempt, then its retry), and an
# environment that is initialising counts against concurrency as much as one that runs: twice rate x duration.
HEADROOM = 2.0
UNRESERVED_MINIMUM = 100  # Lambda refuses a reservation that leaves less of the account's quota unreserved
ROUND_TO = 10  # a recommended reservation is rounded up to this


class ConfigError(ValueError):
    """Bad input (an unknown environment, a malformed override, a report without a field): named for the user."""


@dataclass(frozen=True)
class Quota:
    value: float
    unit: str
    source: str


# AWS's documented defaults (us-east-1). The account's own values can differ: preflight reads those it can.
DOCUMENTED: dict[str, Quota] = {
    "lambda_concurrency": Quota(1000, "concurrent executions per account and Region (new accounts: less)",
                                "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"),
    "api_account_rate": Quota(10000, "requests/s per account and Region, all APIs (burst 5,000)",
                              "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"),
    "express_start_execution": Quota(6000, "StartExecution/s for Express (bucket 6,000, refill 6,000/s); "
                                     "StartSyncExecution does not count against it and has no published rate",
                                     "https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html"),
    "dynamodb_partition_wcu": Quota(1000, "write units/s per partition, so per item",
                                    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
                                    "bp-partition-key-design.html"),
    "dynamodb_partition_rcu": Quota(3000, "read units/s per partition, so per item",
                                    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
                                    "bp-partition-key-design.html"),
    "dynamodb_table_wcu": Quota(40000, "write units/s per on-demand table (table-level quota)",
                                "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
                                "ServiceQuotas.html"),
    "dynamodb_new_table_wcu": Quota(4000, "write units/s a new on-demand table serves at once (it doubles "
                                    "its previous peak within 30 minutes)",
                                    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
                                    "on-demand-capacity-mode.html"),
    "sns_fifo_topic": Quota(3000, "messages/s per FIFO topic with FifoThroughputScope Topic (the default), "
                            "or 20 MB/s", "botocore's SNS model (SetTopicAttributes: FifoThroughputScope)"),
    "sns_fifo_message_group": Quota(300, "messages/s per message group of a FIFO topic",
                                    "https://docs.aws.amazon.com/general/latest/gr/sns.html"),
    "sqs_fifo_high_throughput": Quota(70000, "SendMessage calls/s per high-throughput FIFO queue in us-east-1, "
                                      "us-west-2 and eu-west-1 (300/s per message group)",
                                      "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
                                      "quotas-messages.html"),
    "sqs_fifo": Quota(300, "SendMessage calls/s per FIFO queue without high throughput",
                      "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
                      "quotas-messages.html"),
}  # fmt: skip


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Environment:
    """A samconfig.toml environment: its stack, region, and every template parameter's value for it."""

    name: str
    stack_name: str
    region: str
    parameters: dict[str, str]

    def number(self, parameter: str) -> int:
        value = self.parameters.get(parameter)
        try:
            return int(str(value))
        except ValueError:
            raise ConfigError(f"{parameter}={value!r} in environment {self.name!r} is not a whole number") from None


def load_environment(name: str, samconfig: Path = SAMCONFIG, template: dict[str, Any] | None = None) -> Environment:
    template = template if template is not None else load(TEMPLATE_PATH)
    try:
        config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{samconfig}: {error}") from None
    if name not in config or not isinstance(config[name], dict):
        environments = sorted(k for k, v in config.items() if isinstance(v, dict))
        raise ConfigError(f"no environment {name!r} in {samconfig.name}; it has: {', '.join(environments)}")
    section = config[name]
    merged: dict[str, Any] = {}
    for command in ("global", "deploy"):  # sam deploy reads [env.global] then [env.deploy]
        merged.update(section.get(command, {}).get("parameters", {}))
    parameters = {key: str(spec.get("Default", "")) for key, spec in template.get("Parameters", {}).items()}
    for item in shlex.split(str(merged.get("parameter_overrides", ""))):
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise ConfigError(f"parameter_overrides of {name!r}: {item!r} is not Name=Value")
        if key not in parameters:
            raise ConfigError(f"parameter_overrides of {name!r}: {key} is not a parameter of the template")
        parameters[key] = value
    for required in ("stack_name", "region"):
        if not merged.get(required):
            raise ConfigError(f"environment {name!r} of {samconfig.name} has no {required}")
    return Environment(name, str(merged["stack_name"]), str(merged["region"]), parameters)


def resolver(environment: Environment, template: dict[str, Any]) -> Resolver:
    """Resolves the template's conditions and Refs with the environment's parameters (GetAtt stays symbolic)."""
    refs: dict[str, Any] = {**environment.parameters, "AWS::Region": environment.region,
                            "AWS::StackName": environment.stack_name, "AWS::Partition": "aws",
                            "AWS::AccountId": "${AWS::AccountId}", "AWS::URLSuffix": "amazonaws.com"}  # fmt: skip
    refs.update({logical_id: logical_id for logical_id in template.get("Resources", {})})
    return Resolver(refs=refs, attribute=lambda i, n: f"{i}.{n}", conditions=template.get("Conditions"))


def reservations(environment: Environment, template: dict[str, Any]) -> dict[str, int]:
    """Each function's ReservedConcurrentExecutions in this environment (functions without one are left out)."""
    resolve = resolver(environment, template)
    found = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        value = resource.get("Properties", {}).get("ReservedConcurrentExecutions", {"Ref": "AWS::NoValue"})
        resolved = resolve.resolve(value)
        if resolved is not NO_VALUE:
            found[logical_id] = int(resolved)
    return found


@dataclass(frozen=True)
class PerOrder:
    """What one order used on the local stack (reports/cost.json): measured, not assumed."""

    source: str
    measured_on: str
    path: str
    invocations: dict[str, float]
    billed_ms: dict[str, float]  # per order, all invocations of the function together
    wcu: dict[str, float]
    rcu: dict[str, float]
    hot_item_wcu: float  # write units on one SKU's stock item: the reservation's transaction writes it
    sns_publishes: float
    sqs_messages: float
    api_requests: float
    express_requests: float
    state_transitions: float


def load_per_order(report: Path = COST_REPORT, path: str = MEASURED_PATH) -> PerOrder:
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        per_order, counts = data["paths"][path]["per_order"], data["paths"][path]["counts"]
        # A transaction bills 2 units per item up to 1 KB; the reservation's transaction writes the reservation
        # and one stock item per SKU: an order of one SKU puts transact_wcu / writes units on that SKU's item.
        hot_item = counts["dynamodb.InventoryTable.transact_wcu"] / counts["dynamodb.InventoryTable.writes"]
        return PerOrder(
            source=f"{report.relative_to(ROOT) if report.is_relative_to(ROOT) else report} ({data['command']})",
            measured_on=data["measured_on"],
            path=path,
            invocations=per_order["lambda_invocations"],
            billed_ms=per_order["lambda_billed_ms"],
            wcu=per_order["dynamodb_wcu"],
            rcu=per_order["dynamodb_rcu"],
            hot_item_wcu=hot_item,
            sns_publishes=per_order["sns_publishes"],
            sqs_messages=per_order["sqs_messages_delivered"],
            api_requests=per_order["api_requests"],
            express_requests=per_order["express_requests"],
            state_transitions=per_order["state_transitions"],
        )
    except OSError as error:
        raise ConfigError(f"{report}: {error} (make cost writes it)") from None
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
        raise ConfigError(f"{report}: no usable {error} for the {path!r} path (run make cost again)") from None


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class FunctionNeed:
    function: str
    invocations_per_order: float
    ms_per_invocation: float
    concurrency: float  # rate x invocations x seconds, before headroom
    needed: int  # with HEADROOM, rounded up
    reserved: int | None
    note: str = ""


@dataclass(frozen=True)
class Limit:
    name: str
    per_order: float  # what one order uses of it
    unit: str
    quota: float
    quota_source: str
    at_rate: float  # use at the target rate
    max_orders_per_second: float  # quota / per_order


@dataclass
class Capacity:
    environment: str
    rate: float
    burst: int
    headroom: float
    inputs: dict[str, str]
    functions: list[FunctionNeed] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)
    recommended: dict[str, int] = field(default_factory=dict)

    @property
    def binding(self) -> Limit:
        return min(self.limits, key=lambda limit: limit.max_orders_per_second)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "binding": asdict(self.binding)}


def function_needs(rate: float, per_order: PerOrder, reserved: dict[str, int]) -> list[FunctionNeed]:
    needs = []
    for function, invocations in sorted(per_order.invocations.items()):
        if invocations <= 0:
            continue
        seconds = per_order.billed_ms.get(function, 0.0) / 1000  # per order, every invocation together
        concurrency = rate * seconds
        note = ""
        if function not in reserved:
            note = "no reservation: draws on the account's unreserved pool"
        if function == "OutboxRelayFunction":
            note = "one batch at a time per orders-stream shard: shards x ParallelizationFactor (1) must reach it"
        needs.append(FunctionNeed(function, invocations, 1000 * seconds / invocations, concurrency,
                                  math.ceil(concurrency * HEADROOM), reserved.get(function), note))  # fmt: skip
    return needs


def _limit(name: str, per_order: float, unit: str, quota_key: str, rate: float, quota: float | None = None) -> Limit:
    documented = DOCUMENTED[quota_key]
    value = documented.value if quota is None else quota
    return Limit(name, per_order, unit, value, documented.source, rate * per_order,
                 value / per_order if per_order else math.inf)  # fmt: skip


def limits(rate: float, per_order: PerOrder, environment: Environment, reserved: dict[str, int]) -> list[Limit]:
    found = [
        _limit("API Gateway account throttle", per_order.api_requests, "requests/s", "api_account_rate", rate),
        # StartSyncExecution is not counted against StartExecution's bucket and has no published rate.
        _limit("Step Functions StartSyncExecution (no published rate)", per_order.express_requests,
               "executions/s", "express_start_execution", rate, quota=math.inf),
        _limit("SNS FIFO topic (Topic scope)", per_order.sns_publishes, "messages/s", "sns_fifo_topic", rate),
        _limit("SQS FIFO audit queue (high throughput)", per_order.sqs_messages, "messages/s",
               "sqs_fifo_high_throughput", rate),
        _limit("DynamoDB hot item: one SKU's stock item in a flash sale", per_order.hot_item_wcu, "WCU/s",
               "dynamodb_partition_wcu", rate),
    ]  # fmt: skip
    for table, units in sorted(per_order.wcu.items()):
        found.append(_limit(f"DynamoDB {table}, new on-demand table", units, "WCU/s", "dynamodb_new_table_wcu", rate))
        found.append(_limit(f"DynamoDB {table}, table quota", units, "WCU/s", "dynamodb_table_wcu", rate))
    steps = function_needs(1.0, per_order, reserved)  # concurrency per order/s
    unreserved_pool = DOCUMENTED["lambda_concurrency"].value - sum(reserved.values())
    for need in steps:
        quota = reserved.get(need.function)
        if quota is not None:
            found.append(_limit(f"Lambda {need.function} reservation ({quota})", need.concurrency * HEADROOM,
                                "concurrent", "lambda_concurrency", rate, quota=quota))  # fmt: skip
    shared = sum(n.concurrency for n in steps if n.function not in reserved) * HEADROOM
    if shared:
        found.append(_limit(f"Lambda unreserved pool of a default account ({unreserved_pool:.0f})", shared,
                            "concurrent", "lambda_concurrency", rate, quota=unreserved_pool))  # fmt: skip
    return found


def model(
    environment: Environment, per_order: PerOrder, template: dict[str, Any], rate: float | None = None
) -> Capacity:
    rate = float(environment.number("ApiRateLimit")) if rate is None else rate
    if rate <= 0:
        raise ConfigError(f"rate must be above 0 orders/s (got {rate})")
    burst = environment.number("ApiBurstLimit")
    reserved = reservations(environment, template)
    capacity = Capacity(
        environment=environment.name,
        rate=rate,
        burst=burst,
        headroom=HEADROOM,
        inputs={
            "parameters": f"samconfig.toml [{environment.name}] over template.yaml's defaults",
            "per_order": f"{per_order.source}, path {per_order.path!r}, measured on {per_order.measured_on} "
            "on the local stack (2-core machine, every AWS call through moto: durations are upper bounds)",
            "quotas": "AWS's documented defaults (DOCUMENTED in saga_ops/capacity.py, each with its source)",
        },
        functions=function_needs(rate, per_order, reserved),
        limits=limits(rate, per_order, environment, reserved),
    )
    # The stage admits ApiBurstLimit requests at once: sized for that many arriving within one second too.
    sizing_rate = max(rate, float(burst))
    steps = [n for n in function_needs(sizing_rate, per_order, reserved) if n.function in reserved]
    if steps:
        needed = max(n.needed for n in steps)
        capacity.recommended["FunctionConcurrencyLimit"] = ROUND_TO * math.ceil(needed / ROUND_TO)
    return capacity


def account_concurrency_needed(reservation: int, functions: int) -> int:
    """The smallest account quota that lets `functions` reserve `reservation` each with the minimum left over."""
    return reservation * functions + UNRESERVED_MINIMUM


# ---------------------------------------------------------------- output


def _number(value: float) -> str:
    if math.isinf(value):
        return "unlimited"
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.1f}"


def render(capacity: Capacity) -> str:
    lines = [
        f"Capacity of environment {capacity.environment!r} at {_number(capacity.rate)} orders/s "
        f"(ApiBurstLimit {capacity.burst}; headroom x{capacity.headroom:g} for retries and cold starts)",
        *(f"  {key}: {value}" for key, value in capacity.inputs.items()),
        "",
        "Lambda concurrency (rate x invocations/order x duration, x headroom):",
        f"  {'function':<22} {'inv/order':>9} {'ms/inv':>7} {'rate x s':>9} {'needed':>7} {'reserved':>9}  note",
    ]
    for need in capacity.functions:
        reserved = "-" if need.reserved is None else str(need.reserved)
        lines.append(f"  {need.function:<22} {need.invocations_per_order:>9g} {need.ms_per_invocation:>7.0f} "
                     f"{need.concurrency:>9.1f} {need.needed:>7} {reserved:>9}  {need.note}")  # fmt: skip
    lines += ["", "Limits, the first to bind first (max orders/s = quota / use per order):",
              f"  {'limit':<58} {'per order':>9} {'at rate':>9} {'quota':>9} {'max orders/s':>13}"]  # fmt: skip
    for limit in sorted(capacity.limits, key=lambda item: item.max_orders_per_second):
        lines.append(f"  {limit.name:<58} {limit.per_order:>9g} {_number(limit.at_rate):>9} "
                     f"{_number(limit.quota):>9} {_number(limit.max_orders_per_second):>13}  {limit.unit}")  # fmt: skip
    binding = capacity.binding
    lines += [
        "",
        f"Binds first: {binding.name}, at {_number(binding.max_orders_per_second)} orders/s "
        f"({_number(binding.at_rate)} of {_number(binding.quota)} {binding.unit} at the target rate).",
    ]
    if capacity.recommended:
        reservation = capacity.recommended["FunctionConcurrencyLimit"]
        steps = sum(1 for n in capacity.functions if n.reserved is not None) or 3
        lines.append(
            f"Recommended: FunctionConcurrencyLimit={reservation} (the largest step's need at "
            f"max(rate, ApiBurstLimit/s) = {_number(max(capacity.rate, capacity.burst))}/s, rounded up to "
            f"{ROUND_TO}); the account needs a concurrency quota of at least "
            f"{account_concurrency_needed(reservation, steps)} ({steps} x {reservation} + {UNRESERVED_MINIMUM})."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saga_ops.capacity", description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="prod", help="samconfig.toml environment (default prod)")
    parser.add_argument("--rate", type=float, help="target orders/s (default: the environment's ApiRateLimit)")
    parser.add_argument("--report", type=Path, default=COST_REPORT, help="the measured per-order counts")
    parser.add_argument("--json", action="store_true", help="the model as JSON")
    args = parser.parse_args(argv)
    try:
        template = load(TEMPLATE_PATH)
        environment = load_environment(args.env, template=template)
        capacity = model(environment, load_per_order(args.report), template, args.rate)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(capacity.to_dict(), indent=2, default=str) if args.json else render(capacity))
    return 0


if __name__ == "__main__":
    sys.exit(main())
