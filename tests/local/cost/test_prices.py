"""saga_local.cost.prices: the dated price list, and usage priced per million orders."""

import json
from pathlib import Path
from typing import Any

import pytest

from saga_local.cost.prices import cost_per_million, load_prices

PRICES = Path(__file__).resolve().parents[3] / "benchmarks" / "prices-us-east-1.json"


# ---------------------------------------------------------------- prices


def _prices(**usd: float) -> dict[str, Any]:
    prices = load_prices(PRICES)
    for name, value in usd.items():
        prices["prices"][name] = {**prices["prices"][name], "usd": value}
    return prices


def test_the_prices_file_is_dated_and_cites_a_source_for_each_price() -> None:
    prices = load_prices(PRICES)
    assert prices["region"] == "us-east-1"
    assert prices["as_of"]
    for name, entry in prices["prices"].items():
        assert entry["source"].startswith("https://"), name
        assert entry["unit"], name


def test_a_prices_file_without_a_source_is_refused(tmp_path: Path) -> None:
    document = json.loads(PRICES.read_text())
    del document["prices"]["lambda_request"]["source"]
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"prices.lambda_request.source is missing"):
        load_prices(path)


def test_cost_per_million_multiplies_counts_by_unit_prices() -> None:
    usage = {
        "apigateway.requests": 1,
        "dynamodb.OrdersTable.wcu": 4,
        "dynamodb.IdempotencyTable.wcu": 12,
        "dynamodb.OrdersTable.rcu": 2,
        "lambda.OrdersFunction.invocations": 3,
        "lambda.OrdersFunction.gb_seconds.arm64": 0.1,
        "logs.OrdersFunction.shipped_bytes": 1 << 30,
        "logs.OrdersFunction.system_bytes": 99,  # not shipped bytes: not billed twice
        "xray.traces": 2,
        "sqs.messages_in_queues": 2,
    }
    cost = cost_per_million(usage, _prices(), xray_sampling=0.05)
    assert cost["API Gateway requests"] == pytest.approx(3.50)
    assert cost["DynamoDB writes"] == pytest.approx(16 * 0.625)
    assert cost["DynamoDB reads"] == pytest.approx(2 * 0.125)
    assert cost["Lambda requests"] == pytest.approx(3 * 0.20)
    assert cost["Lambda duration"] == pytest.approx(0.1 * 0.0000133334 * 1e6, rel=1e-4)
    assert cost["CloudWatch Logs ingestion"] == pytest.approx(0.50 * 1e6)  # one GiB per order
    assert cost["X-Ray traces"] == pytest.approx(2 * 0.05 * 5.0)
    # SNS puts each message into the queue (1 request), the consumer receives and deletes it (2 more)
    assert cost["SQS requests"] == pytest.approx(2 * 3 * 0.50)
    assert cost["SNS to SQS deliveries"] == pytest.approx(2 * 0.01)


def test_cost_follows_the_prices_file() -> None:
    usage = {"dynamodb.OrdersTable.wcu": 10.0}
    assert (
        cost_per_million(usage, _prices(dynamodb_on_demand_write_unit=1.25), xray_sampling=0)["DynamoDB writes"] == 12.5
    )
