"""Releasing an order's stock (the saga's compensation) through the inventory handler."""

from typing import Any

import pytest
from inventory import handler, service
from inventory.errors import ReservationReleased

from tests.support.aws import LocalAws
from tests.support.events import read_event

ORDER = "ord_00000000000000000000000002"


@pytest.fixture
def catalog(aws: LocalAws) -> LocalAws:
    service.seed_catalog(
        [
            {"sku": "SKU-1", "name": "Espresso beans", "unitPrice": 1999, "currency": "USD", "stock": 10},
            {"sku": "SKU-2", "name": "Dripper", "unitPrice": 500, "currency": "USD", "stock": 3},
        ]
    )
    return aws


def invoke(context: Any, action: str, order_id: str = ORDER, **fields: Any) -> dict[str, Any]:
    return handler.lambda_handler({"action": action, "orderId": order_id, **fields}, context)


def stock(aws: LocalAws, sku: str) -> tuple[int, int]:
    item = aws.table("InventoryTable").get_item(Key={"pk": f"SKU#{sku}"})["Item"]
    return int(item["available"]), int(item["reserved"])


def reservation(aws: LocalAws, order_id: str = ORDER) -> dict[str, Any] | None:
    return aws.table("InventoryTable").get_item(Key={"pk": f"RESERVATION#{order_id}"}).get("Item")


def test_release_after_reserve_gives_every_unit_back(catalog: LocalAws, lambda_context: Any) -> None:
    items = [{"sku": "SKU-1", "quantity": 5}, {"sku": "SKU-2", "quantity": 3}]
    invoke(lambda_context, "ReserveInventory", items=items)
    assert stock(catalog, "SKU-1") == (5, 5)

    assert invoke(lambda_context, "ReleaseInventory") == {"service": "inventory", "status": "RELEASED"}

    assert stock(catalog, "SKU-1") == (10, 0)
    assert stock(catalog, "SKU-2") == (3, 0)
    assert (reservation(catalog) or {})["status"] == "RELEASED"


def test_a_release_replayed_after_success_answers_released_and_gives_the_stock_back_once(
    catalog: LocalAws, lambda_context: Any
) -> None:
    invoke(lambda_context, "ReserveInventory", items=[{"sku": "SKU-1", "quantity": 4}])
    invoke(lambda_context, "ReleaseInventory")
    inventory = catalog.table("InventoryTable").scan(ConsistentRead=True)["Items"]

    assert invoke(lambda_context, "ReleaseInventory") == {"service": "inventory", "status": "RELEASED"}
    assert invoke(lambda_context, "ReleaseInventory") == {"service": "inventory", "status": "RELEASED"}

    assert stock(catalog, "SKU-1") == (10, 0)
    assert catalog.table("InventoryTable").scan(ConsistentRead=True)["Items"] == inventory
    assert catalog.table("IdempotencyTable").scan()["Items"] == []  # no Powertools record


def test_release_without_a_reservation_leaves_a_fence_and_a_replay_has_nothing_to_release(
    catalog: LocalAws, lambda_context: Any
) -> None:
    assert invoke(lambda_context, "ReleaseInventory") == {"service": "inventory", "status": "NOTHING_TO_RELEASE"}

    assert stock(catalog, "SKU-1") == (10, 0)
    fence = reservation(catalog) or {}
    assert (fence["status"], fence["items"]) == ("RELEASED", [])  # keeps a late reserve out
    assert invoke(lambda_context, "ReleaseInventory") == {"service": "inventory", "status": "NOTHING_TO_RELEASE"}
    assert reservation(catalog) == fence


def test_a_retry_after_a_crash_between_the_release_and_the_answer_answers_released_and_gives_back_once(
    catalog: LocalAws, lambda_context: Any, crash_after_write: Any
) -> None:
    invoke(lambda_context, "ReserveInventory", items=[{"sku": "SKU-1", "quantity": 4}, {"sku": "SKU-2", "quantity": 1}])
    recover = crash_after_write("release")
    with pytest.raises(Exception, match=r"died after repository\.release"):
        invoke(lambda_context, "ReleaseInventory")
    assert stock(catalog, "SKU-1") == (10, 0)  # the write happened
    recover()

    assert invoke(lambda_context, "ReleaseInventory") == {"service": "inventory", "status": "RELEASED"}

    assert stock(catalog, "SKU-1") == (10, 0)
    assert stock(catalog, "SKU-2") == (3, 0)


def test_a_retry_after_a_crash_between_the_fence_and_the_answer_has_nothing_to_release(
    catalog: LocalAws, lambda_context: Any, crash_after_write: Any
) -> None:
    recover = crash_after_write("fence")
    with pytest.raises(Exception, match=r"died after repository\.fence"):
        invoke(lambda_context, "ReleaseInventory")
    recover()

    assert invoke(lambda_context, "ReleaseInventory") == {"service": "inventory", "status": "NOTHING_TO_RELEASE"}

    fence = reservation(catalog) or {}
    assert (fence["status"], fence["items"]) == ("RELEASED", [])
    with pytest.raises(ReservationReleased):  # the fence still holds
        invoke(lambda_context, "ReserveInventory", items=[{"sku": "SKU-1", "quantity": 1}])
    assert stock(catalog, "SKU-1") == (10, 0)


def test_a_release_is_one_read_and_one_write_and_its_replay_only_reads(
    catalog: LocalAws, lambda_context: Any, dynamodb_calls: Any
) -> None:
    """No idempotency record: Powertools added a conditional put and an update to every release."""
    invoke(lambda_context, "ReserveInventory", items=[{"sku": "SKU-1", "quantity": 1}])
    with dynamodb_calls() as calls:
        invoke(lambda_context, "ReleaseInventory")
    assert calls == ["GetItem", "TransactWriteItems"]

    with dynamodb_calls() as calls:
        invoke(lambda_context, "ReleaseInventory")
    assert calls == ["GetItem"]

    with dynamodb_calls() as calls:
        invoke(lambda_context, "ReleaseInventory", order_id="ord_00000000000000000000000099")
    assert calls == ["GetItem", "PutItem"]  # the fence


def test_releasing_one_order_leaves_the_others_reserved(catalog: LocalAws, lambda_context: Any) -> None:
    other = "ord_00000000000000000000000003"
    invoke(lambda_context, "ReserveInventory", items=[{"sku": "SKU-1", "quantity": 2}])
    invoke(lambda_context, "ReserveInventory", order_id=other, items=[{"sku": "SKU-1", "quantity": 3}])

    invoke(lambda_context, "ReleaseInventory")

    assert stock(catalog, "SKU-1") == (7, 3)
    assert (reservation(catalog, other) or {})["status"] == "RESERVED"


def test_the_sample_release_event_releases_the_sample_reservation(aws: LocalAws, lambda_context: Any) -> None:
    service.seed_catalog(
        [
            {"sku": "SKU-1", "name": "Espresso beans", "unitPrice": 2499, "currency": "USD", "stock": 100},
            {"sku": "SKU-3", "name": "Paper filters", "unitPrice": 699, "currency": "USD", "stock": 250},
        ]
    )
    handler.lambda_handler(read_event("inventory-reserve.json"), lambda_context)
    assert stock(aws, "SKU-1") == (98, 2)

    assert handler.lambda_handler(read_event("inventory-release.json"), lambda_context)["status"] == "RELEASED"

    assert stock(aws, "SKU-1") == (100, 0)
    assert stock(aws, "SKU-3") == (250, 0)
