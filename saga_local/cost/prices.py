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


def cost_per_million(
    usage: Mapping[str, float], prices: Mapping[str, Any], *, xray_sampling: float, consumer_requests: float = 2.0
) -> dict[str, float]:
    """USD per million orders, by line item, for one order's `usage` (a Meter delta or a median of them).
    `xray_sampling`: the share of traces recorded. `consumer_requests`: SQS requests the audit queue's consumer
    makes per message (a receive and a delete, unbatched)."""
    p = lambda name: unit_price(prices, name)  # noqa: E731 - a short alias keeps the table below readable
    deliveries = max(0.0, usage.get("sqs.messages_in_queues", 0.0))
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
        # SNS's SendMessage into the queue, the consumer's receive and delete, and any direct SQS call.
        "SQS requests": (usage.get("sqs.requests", 0.0) + deliveries * (1 + consumer_requests)) * p("sqs_fifo_request"),
        "CloudWatch Logs ingestion": usage_total(usage, r"logs\.[^.]+\.shipped_bytes")
        / GIB
        * p("cloudwatch_logs_ingestion_gb"),
        "X-Ray traces": usage.get("xray.traces", 0.0) * xray_sampling * p("xray_trace_recorded"),
    }
    return {name: round(value * 1_000_000, 4) for name, value in items.items()}
