"""The dated price list (benchmarks/prices-us-east-1.json), and usage turned into USD per million orders."""

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GIB = 1 << 30
REQUIRED_PRICE_FIELDS = ("usd", "per", "unit", "source")


def load_prices(path: Path) -> dict[str, Any]:
    """The dated prices file (benchmarks/prices-us-east-1.json). Raises ValueError naming what is missing."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read prices: {error}") from error
    for top in ("region", "as_of", "prices"):
        if top not in document:
            raise ValueError(f"{path}: missing {top!r}")
    for name, entry in document["prices"].items():
        for key in REQUIRED_PRICE_FIELDS:
            if key not in entry:
                raise ValueError(f"{path}: prices.{name}.{key} is missing")
        if not isinstance(entry["usd"], int | float) or not isinstance(entry["per"], int | float) or entry["per"] <= 0:
            raise ValueError(f"{path}: prices.{name}: usd must be a number and per a positive number")
    return dict(document)


def unit_price(prices: Mapping[str, Any], name: str) -> float:
    """USD for one unit of `name` (the file gives USD per `per` units)."""
    try:
        entry = prices["prices"][name]
    except KeyError as error:
        raise ValueError(f"the prices file has no {name!r}") from error
    return float(entry["usd"]) / float(entry["per"])


def usage_total(usage: Mapping[str, float], pattern: str) -> float:
    regex = re.compile(pattern)
    return sum(value for key, value in usage.items() if regex.fullmatch(key))


# What each line item counts, for the report (reports/cost.json "line_items").
LINE_ITEMS = {
    "API Gateway requests": "REST API requests: one per POST /orders",
    "Step Functions requests": "Express workflow requests: one StartSyncExecution per order that reaches the saga",
    "Step Functions duration": "Express duration from the execution's billingDetails (this machine's: an upper bound)",
    "Lambda requests": "invocations of the saga's steps and the outbox relay, from the REPORT lines",
    "Lambda duration": "billed ms at each function's memory and architecture (this machine's: an upper bound)",
    "DynamoDB writes": "on-demand write request units, per item as DynamoDB sizes it (transactions double)",
    "DynamoDB reads": "on-demand read request units (0.5 eventually consistent, 1 strong, 2 transactional per 4 KB)",
    "SNS publishes": "FIFO topic publishes (64 KB chunks) and their payload GB",
    "SNS to SQS deliveries": "FIFO topic messages delivered to the audit queue's subscription",
    "SQS requests": "the SendMessage each SNS delivery is billed as on the audit queue (64 KB chunks, FIFO), plus"
    " any other SQS request of the application's; a consumer's receive and delete are not in it",
    "CloudWatch Logs ingestion": "bytes each log group would ingest: function logs after LoggingConfig's filters,"
    " the API access log in the stage's format, the state machine's log level",
    "X-Ray traces": "distinct traces times the default sampling rule's 5 %",
}
CONSUMER_ITEM = "SQS requests of the example audit consumer (not shipped)"
PROVISIONED_ITEMS = {
    "DynamoDB writes": "dynamodb_provisioned_wcu_hour",
    "DynamoDB reads": "dynamodb_provisioned_rcu_hour",
}
TARGET_UTILISATION = 0.7  # auto scaling's usual target: provisioned capacity is 1/0.7 of the steady rate


def cost_per_million(
    usage: Mapping[str, float], prices: Mapping[str, Any], *, xray_sampling: float
) -> dict[str, float]:
    """USD per million orders, by line item, for one order's `usage` (a Meter delta or a median of them), the
    application's own: the audit queue's consumer is priced apart (consumer_cost_per_million).
    `xray_sampling`: the share of traces recorded."""
    p = lambda name: unit_price(prices, name)  # noqa: E731 - a short alias keeps the table below readable
    deliveries = max(0.0, usage.get("sqs.messages_in_queues", 0.0))
    # SNS's SendMessage into the queue, billed to the queue per 64 KB chunk (one per message when not metered).
    delivery_requests = max(0.0, usage.get("sqs.delivery_requests", deliveries))
    lambda_duration = sum(
        usage_total(usage, rf"lambda\.[^.]+\.gb_seconds\.{arch}") * p(f"lambda_gb_second_{arch}")
        for arch in ("arm64", "x86_64")
    )
    items = {
        "API Gateway requests": usage.get("apigateway.requests", 0.0) * p("apigateway_rest_request"),
        "Step Functions requests": usage.get("stepfunctions.requests", 0.0) * p("stepfunctions_express_request"),
        "Step Functions duration": usage.get("stepfunctions.gb_seconds", 0.0) * p("stepfunctions_express_gb_second"),
        "Lambda requests": usage_total(usage, r"lambda\.[^.]+\.invocations") * p("lambda_request"),
        "Lambda duration": lambda_duration,
        "DynamoDB writes": usage_total(usage, r"dynamodb\.[^.]+\.wcu") * p("dynamodb_on_demand_write_unit"),
        "DynamoDB reads": usage_total(usage, r"dynamodb\.[^.]+\.rcu") * p("dynamodb_on_demand_read_unit"),
        "SNS publishes": usage.get("sns.requests", 0.0) * p("sns_fifo_publish_request")
        + usage.get("sns.payload_bytes", 0.0) / GIB * p("sns_fifo_publish_gb"),
        "SNS to SQS deliveries": deliveries * p("sns_fifo_delivery"),
        "SQS requests": (delivery_requests + usage.get("sqs.application.requests", 0.0)) * p("sqs_fifo_request"),
        "CloudWatch Logs ingestion": usage_total(usage, r"logs\.[^.]+\.shipped_bytes")
        / GIB
        * p("cloudwatch_logs_ingestion_gb"),
        "X-Ray traces": usage.get("xray.traces", 0.0) * xray_sampling * p("xray_trace_recorded"),
    }
    return {name: round(value * 1_000_000, 4) for name, value in items.items()}


def consumer_requests(usage: Mapping[str, float], *, assumed_per_message: float = 2.0) -> tuple[float, str]:
    """The audit consumer's SQS requests per order, and whether they were measured or assumed: its receive and
    delete calls if a consumer ran, else `assumed_per_message` (a receive and a delete, unbatched) per message
    delivered. Not the application's: it ships no consumer."""
    measured = usage.get("sqs.consumer.requests", 0.0)
    if measured > 0:
        return measured, "measured"
    return max(0.0, usage.get("sqs.messages_in_queues", 0.0)) * assumed_per_message, "assumed"


def consumer_cost_per_million(usage: Mapping[str, float], prices: Mapping[str, Any]) -> float:
    """USD per million orders of the example audit consumer's SQS requests (FIFO price), apart from the totals."""
    return round(consumer_requests(usage)[0] * unit_price(prices, "sqs_fifo_request") * 1_000_000, 4)


def provisioned_per_million_units(prices: Mapping[str, Any], name: str) -> float:
    """USD per million capacity units consumed on provisioned capacity: one unit-hour at TARGET_UTILISATION
    serves that share of 3600 units (one a second), so a unit used costs the hour's price / (0.7 * 3600)."""
    return unit_price(prices, name) / (TARGET_UTILISATION * 3600) * 1_000_000


def provisioned_cost(
    usage: Mapping[str, float], prices: Mapping[str, Any], on_demand: Mapping[str, float]
) -> dict[str, float]:
    """The same order's line items with DynamoDB on provisioned capacity (auto scaling at 70 % utilisation)
    instead of on-demand; everything else unchanged. Assumes steady load: the units are paid by the hour."""
    units = {
        "DynamoDB writes": usage_total(usage, r"dynamodb\.[^.]+\.wcu"),
        "DynamoDB reads": usage_total(usage, r"dynamodb\.[^.]+\.rcu"),
    }
    replaced = {
        item: round(units[item] * provisioned_per_million_units(prices, price), 4)
        for item, price in PROVISIONED_ITEMS.items()
    }
    return {**on_demand, **replaced}
