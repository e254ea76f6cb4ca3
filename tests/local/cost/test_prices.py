"""saga_local.cost.prices: the dated price list, and usage priced per million orders."""

import json
from pathlib import Path
from typing import Any

import pytest

from saga_local.cost.prices import (
    CONSUMER_ITEM,
    LINE_ITEMS,
    consumer_cost_per_million,
    consumer_requests,
    cost_per_million,
    load_prices,
    provisioned_cost,
)

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
    # SNS puts each message into the queue: one request each; a consumer's receive and delete are not here
    assert cost["SQS requests"] == pytest.approx(2 * 0.50)
    assert cost["SNS to SQS deliveries"] == pytest.approx(2 * 0.01)
    assert set(cost) == set(LINE_ITEMS)  # every line item is explained in the report


# ---------------------------------------------------------------- the audit queue: the application's and a consumer's


def test_the_application_pays_each_delivery_in_64kb_chunks_and_its_own_sqs_calls() -> None:
    usage = {"sqs.messages_in_queues": 2, "sqs.delivery_requests": 3, "sqs.application.requests": 1}
    assert cost_per_million(usage, _prices(), xray_sampling=0)["SQS requests"] == pytest.approx((3 + 1) * 0.50)


def test_a_consumers_receives_and_deletes_are_priced_apart_and_in_no_total() -> None:
    measured = {"sqs.messages_in_queues": 2, "sqs.delivery_requests": 2, "sqs.consumer.requests": 3}
    cost = cost_per_million(measured, _prices(), xray_sampling=0)
    assert sum(cost.values()) == pytest.approx(2 * 0.50 + 2 * 0.01)  # the consumer's 3 requests are not in it
    assert CONSUMER_ITEM not in cost
    assert consumer_requests(measured) == (3, "measured")
    assert consumer_cost_per_million(measured, _prices()) == pytest.approx(3 * 0.50)


def test_without_a_consumer_running_its_cost_is_a_receive_and_a_delete_per_message() -> None:
    usage = {"sqs.messages_in_queues": 2}
    assert consumer_requests(usage) == (4, "assumed")
    assert consumer_cost_per_million(usage, _prices()) == pytest.approx(4 * 0.50)
    assert consumer_requests({}) == (0, "assumed")


# ---------------------------------------------------------------- provisioned capacity


def test_provisioned_capacity_prices_each_unit_at_the_unit_hour_over_70_percent_of_3600() -> None:
    usage = {"dynamodb.OrdersTable.wcu": 2, "dynamodb.IdempotencyTable.wcu": 12, "dynamodb.OrdersTable.rcu": 4,
             "apigateway.requests": 1}  # fmt: skip
    prices = _prices(dynamodb_provisioned_wcu_hour=0.00065, dynamodb_provisioned_rcu_hour=0.00013)
    on_demand = cost_per_million(usage, prices, xray_sampling=0)
    provisioned = provisioned_cost(usage, prices, on_demand)
    assert provisioned["DynamoDB writes"] == pytest.approx(14 * 0.00065 / (0.7 * 3600) * 1e6, abs=1e-4)  # 3.61
    assert provisioned["DynamoDB reads"] == pytest.approx(4 * 0.00013 / (0.7 * 3600) * 1e6, abs=1e-4)
    assert provisioned["DynamoDB writes"] < on_demand["DynamoDB writes"] == pytest.approx(14 * 0.625)
    # everything else is the on-demand figure
    assert {k: v for k, v in provisioned.items() if not k.startswith("DynamoDB")} == {
        k: v for k, v in on_demand.items() if not k.startswith("DynamoDB")
    }


def test_cost_follows_the_prices_file() -> None:
    usage = {"dynamodb.OrdersTable.wcu": 10.0}
    assert (
        cost_per_million(usage, _prices(dynamodb_on_demand_write_unit=1.25), xray_sampling=0)["DynamoDB writes"] == 12.5
    )
