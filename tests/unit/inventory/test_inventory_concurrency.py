"""Concurrent orders on the same stock: DynamoDB's conditions, not luck, decide who gets it."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from inventory import handler, service
from inventory.errors import OutOfStock

from tests.conftest import LocalAws


def test_fifty_concurrent_orders_for_five_units_never_oversell(aws: LocalAws, lambda_context: Any) -> None:
    service.seed_catalog([{"sku": "SKU-7", "name": "Rare mug", "unitPrice": 1800, "currency": "USD", "stock": 5}])

    def order(number: int) -> str:
        event = {"action": "reserve", "orderId": f"ord_{number:026d}", "items": [{"sku": "SKU-7", "quantity": 1}]}
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
