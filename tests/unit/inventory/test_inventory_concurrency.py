"""Concurrent orders on the same stock: DynamoDB's conditions, not luck, decide who gets it."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from inventory import handler, service
from inventory.errors import OutOfStock
from saga_common import aws as saga_aws

from tests.conftest import LocalAws


def test_fifty_concurrent_orders_for_five_units_never_oversell(aws: LocalAws, lambda_context: Any) -> None:
    service.seed_catalog([{"sku": "SKU-7", "name": "Rare mug", "unitPrice": 1800, "currency": "USD", "stock": 5}])

    def order(number: int) -> str:
        event = {
            "action": "ReserveInventory",
            "orderId": f"ord_{number:026d}",
            "items": [{"sku": "SKU-7", "quantity": 1}],
        }
        try:
            handler.lambda_handler(event, lambda_context)
        except OutOfStock:
            return "out of stock"
        return "reserved"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(order, range(50)))

    assert outcomes.count("reserved") == 5
    assert outcomes.count("out of stock") == 45
    item = aws.table("InventoryTable").get_item(Key={"pk": "SKU#SKU-7"})["Item"]
    assert (item["available"], item["reserved"]) == (0, 5)
    reservations = [i for i in aws.table("InventoryTable").scan()["Items"] if i["pk"].startswith("RESERVATION#")]
    assert len(reservations) == 5


def _conflict_then_real(monkeypatch: pytest.MonkeyPatch, client: Any, conflicts: int) -> list[int]:
    """Make the next `conflicts` transactions fail as DynamoDB does when another transaction holds an item."""
    real, calls = client.transact_write_items, []

    def transact_write_items(**request: Any) -> Any:
        calls.append(len(request["TransactItems"]))
        if len(calls) <= conflicts:
            response: Any = {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": "None"}]
                + [{"Code": "TransactionConflict"}] * (len(request["TransactItems"]) - 1),
            }
            raise ClientError(response, "TransactWriteItems")
        return real(**request)

    monkeypatch.setattr(client, "transact_write_items", transact_write_items)
    return calls


def test_a_transaction_conflict_on_a_hot_sku_is_retried(
    aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.seed_catalog([{"sku": "SKU-7", "name": "Rare mug", "unitPrice": 1800, "currency": "USD", "stock": 5}])
    calls = _conflict_then_real(monkeypatch, saga_aws.table("INVENTORY_TABLE").meta.client, conflicts=2)

    answer = handler.lambda_handler(
        {
            "action": "ReserveInventory",
            "orderId": "ord_00000000000000000000000077",
            "items": [{"sku": "SKU-7", "quantity": 2}],
        },
        lambda_context,
    )

    assert answer["total"] == 3600
    assert len(calls) == 3
    item = aws.table("InventoryTable").get_item(Key={"pk": "SKU#SKU-7"})["Item"]
    assert (item["available"], item["reserved"]) == (3, 2)


def test_a_conflict_that_outlasts_the_retries_is_a_technical_failure(
    aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.seed_catalog([{"sku": "SKU-7", "name": "Rare mug", "unitPrice": 1800, "currency": "USD", "stock": 5}])
    _conflict_then_real(monkeypatch, saga_aws.table("INVENTORY_TABLE").meta.client, conflicts=99)

    with pytest.raises(ClientError, match="TransactionCanceledException"):  # not a BusinessError: retried
        handler.lambda_handler(
            {
                "action": "ReserveInventory",
                "orderId": "ord_00000000000000000000000078",
                "items": [{"sku": "SKU-7", "quantity": 1}],
            },
            lambda_context,
        )

    item = aws.table("InventoryTable").get_item(Key={"pk": "SKU#SKU-7"})["Item"]
    assert (item["available"], item["reserved"]) == (5, 0)
