"""Concurrent orders on the same stock, and duplicate deliveries of one step: DynamoDB's conditions, not luck,
decide who gets it."""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from inventory import handler, repository, service
from inventory.errors import OutOfStock, ReservationReleased
from inventory.settings import settings
from saga_common import aws as saga_aws

from tests.support.aws import LocalAws


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
    calls = _conflict_then_real(monkeypatch, saga_aws.table(settings().inventory_table).meta.client, conflicts=2)

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
    _conflict_then_real(monkeypatch, saga_aws.table(settings().inventory_table).meta.client, conflicts=99)

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


# ---------------------------------------------------------------- duplicate deliveries of one step
DUPLICATES = 8
ORDER = "ord_00000000000000000000000042"


def _all_at_once(monkeypatch: pytest.MonkeyPatch, name: str, parties: int) -> None:
    """The first `parties` calls of repository.<name> wait for each other, then go on together: every
    duplicate has read (or priced) before any of them writes, the worst interleaving for a step."""
    real, barrier, seen, lock = getattr(repository, name), threading.Barrier(parties, timeout=10), [0], threading.Lock()

    def gathered(*args: Any) -> Any:
        result = real(*args)
        with lock:
            seen[0] += 1
            first_round = seen[0] <= parties
        if first_round:
            barrier.wait()
        return result

    monkeypatch.setattr(repository, name, gathered)


def _concurrently(lambda_context: Any, event: dict[str, Any], times: int) -> list[Any]:
    def invoke(_: int) -> Any:
        try:
            return handler.lambda_handler(dict(event), lambda_context)
        except Exception as error:  # an error is an answer too, compared below
            return type(error).__name__

    with ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(invoke, range(times)))


def test_duplicate_deliveries_of_one_reserve_take_the_stock_once_and_answer_alike(
    aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.seed_catalog([{"sku": "SKU-7", "name": "Rare mug", "unitPrice": 1800, "currency": "USD", "stock": 5}])
    _all_at_once(monkeypatch, "get_catalog", DUPLICATES)
    event = {"action": "ReserveInventory", "orderId": ORDER, "items": [{"sku": "SKU-7", "quantity": 2}]}

    answers = _concurrently(lambda_context, event, DUPLICATES)

    assert all(isinstance(answer, dict) for answer in answers), answers
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["total"] == 3600
    item = aws.table("InventoryTable").get_item(Key={"pk": "SKU#SKU-7"})["Item"]
    assert (item["available"], item["reserved"]) == (3, 2)
    reservations = [i for i in aws.table("InventoryTable").scan()["Items"] if i["pk"].startswith("RESERVATION#")]
    assert len(reservations) == 1


def test_duplicate_deliveries_of_one_release_give_the_stock_back_once(
    aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.seed_catalog([{"sku": "SKU-7", "name": "Rare mug", "unitPrice": 1800, "currency": "USD", "stock": 5}])
    handler.lambda_handler(
        {"action": "ReserveInventory", "orderId": ORDER, "items": [{"sku": "SKU-7", "quantity": 2}]}, lambda_context
    )
    _all_at_once(monkeypatch, "get_reservation", DUPLICATES)  # every duplicate reads RESERVED

    answers = _concurrently(lambda_context, {"action": "ReleaseInventory", "orderId": ORDER}, DUPLICATES)

    assert answers == [{"service": "inventory", "status": "RELEASED"}] * DUPLICATES
    item = aws.table("InventoryTable").get_item(Key={"pk": "SKU#SKU-7"})["Item"]
    assert (item["available"], item["reserved"]) == (5, 0)


def test_duplicate_releases_of_an_unreserved_order_leave_one_fence_and_answer_alike(
    aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _all_at_once(monkeypatch, "get_reservation", DUPLICATES)  # every duplicate reads no reservation

    answers = _concurrently(lambda_context, {"action": "ReleaseInventory", "orderId": ORDER}, DUPLICATES)

    assert answers == [{"service": "inventory", "status": "NOTHING_TO_RELEASE"}] * DUPLICATES
    fence = aws.table("InventoryTable").get_item(Key={"pk": f"RESERVATION#{ORDER}"})["Item"]
    assert (fence["status"], fence["items"]) == ("RELEASED", [])


@pytest.mark.parametrize("round_", range(5))
def test_a_reserve_racing_its_release_never_leaves_the_stock_held(
    aws: LocalAws, lambda_context: Any, round_: int
) -> None:
    """The saga gave up on a slow reserve and compensates while it is still running: whichever lands first,
    the stock ends where it was (reserved then released, or fenced and refused)."""
    service.seed_catalog([{"sku": "SKU-7", "name": "Rare mug", "unitPrice": 1800, "currency": "USD", "stock": 5}])
    order_id = f"ord_{round_:026d}"
    events = [
        {"action": "ReserveInventory", "orderId": order_id, "items": [{"sku": "SKU-7", "quantity": 2}]},
        {"action": "ReleaseInventory", "orderId": order_id},
    ]

    def invoke(event: dict[str, Any]) -> Any:
        try:
            return handler.lambda_handler(event, lambda_context)
        except ReservationReleased as refused:
            return type(refused).__name__

    with ThreadPoolExecutor(max_workers=2) as pool:
        reserved, released = pool.map(invoke, events)

    assert (reserved == "ReservationReleased") == (released["status"] == "NOTHING_TO_RELEASE"), (reserved, released)
    item = aws.table("InventoryTable").get_item(Key={"pk": "SKU#SKU-7"})["Item"]
    assert (item["available"], item["reserved"]) == (5, 0)
