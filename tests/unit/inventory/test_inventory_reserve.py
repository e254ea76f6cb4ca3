"""Reserving an order's stock through the inventory handler: priced from the catalog, all or nothing."""

from typing import Any

import pytest
from inventory import handler, service
from inventory.errors import InvalidOrder, OutOfStock, ReservationReleased, UnknownSku
from saga_common.errors import InvalidCommand

from tests.support.aws import LocalAws
from tests.support.events import read_event

ORDER = "ord_00000000000000000000000001"
CATALOG = [
    {"sku": "SKU-1", "name": "Espresso beans", "unitPrice": 1999, "currency": "USD", "stock": 10},
    {"sku": "SKU-2", "name": "Dripper", "unitPrice": 500, "currency": "USD", "stock": 3},
    {"sku": "SKU-EU", "name": "Kettle (EU plug)", "unitPrice": 4000, "currency": "EUR", "stock": 5},
]


@pytest.fixture
def catalog(aws: LocalAws) -> LocalAws:
    service.seed_catalog(CATALOG)
    return aws


def reserve(context: Any, items: list[dict[str, Any]], order_id: str = ORDER) -> dict[str, Any]:
    return handler.lambda_handler({"action": "ReserveInventory", "orderId": order_id, "items": items}, context)


def stock(aws: LocalAws, sku: str) -> tuple[int, int]:
    item = aws.table("InventoryTable").get_item(Key={"pk": f"SKU#{sku}"})["Item"]
    return int(item["available"]), int(item["reserved"])


def contents(aws: LocalAws, logical_id: str) -> list[dict[str, Any]]:
    return sorted(aws.table(logical_id).scan(ConsistentRead=True)["Items"], key=str)


def test_reserve_prices_every_line_from_the_catalog_and_moves_the_stock(catalog: LocalAws, lambda_context: Any) -> None:
    # Only the catalog prices an order (a client-sent price is refused: see the extra-field case below).
    answer = reserve(lambda_context, [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 3}])

    assert answer == {
        "reservationId": answer["reservationId"],
        "items": [
            {"sku": "SKU-1", "name": "Espresso beans", "quantity": 2, "unitPrice": 1999, "lineTotal": 3998},
            {"sku": "SKU-2", "name": "Dripper", "quantity": 3, "unitPrice": 500, "lineTotal": 1500},
        ],
        "total": 5498,
        "currency": "USD",
    }
    assert answer["reservationId"].startswith("res_")
    assert stock(catalog, "SKU-1") == (8, 2)
    assert stock(catalog, "SKU-2") == (0, 3)
    stored = catalog.table("InventoryTable").get_item(Key={"pk": f"RESERVATION#{ORDER}"})["Item"]
    assert stored["status"] == "RESERVED"
    assert stored["total"] == 5498
    assert stored["currency"] == "USD"
    assert [line["sku"] for line in stored["items"]] == ["SKU-1", "SKU-2"]


def test_one_short_line_reserves_nothing_at_all(catalog: LocalAws, lambda_context: Any) -> None:
    before = contents(catalog, "InventoryTable")

    with pytest.raises(OutOfStock, match=r"^SKU-2: requested 4, available 3$"):
        reserve(lambda_context, [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-2", "quantity": 4}])

    assert contents(catalog, "InventoryTable") == before  # SKU-1 untouched, no reservation
    # The business error left no idempotency record: a corrected retry is not blocked by it.
    assert contents(catalog, "IdempotencyTable") == []


def test_the_same_sku_twice_is_an_invalid_order_and_nothing_is_reserved(catalog: LocalAws, lambda_context: Any) -> None:
    """An order has one line per SKU; API Gateway's model cannot check it, so this step does."""
    before = contents(catalog, "InventoryTable")

    with pytest.raises(InvalidOrder, match=r"^items\[1\]\.sku: SKU-2 appears more than once; send one line per SKU$"):
        reserve(lambda_context, [{"sku": "SKU-2", "quantity": 1}, {"sku": "SKU-2", "quantity": 2}])

    assert contents(catalog, "InventoryTable") == before


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            [{"sku": "SKU-1", "quantity": 1, "price": 1}],
            r"^items\[0\]\.price: unexpected field; a line has only sku and quantity$",
        ),
        ([{"sku": "SKU-1", "quantity": 101}], r"^items\[0\]\.quantity must be at most 100$"),
        ([{"sku": "sku-1", "quantity": 1}], r"^items\[0\]\.sku must be 1-32 upper-case letters, digits or hyphens$"),
        ([{"sku": f"SKU-{n}", "quantity": 1} for n in range(26)], r"^items: an order holds at most 25 lines, got 26$"),
    ],
    ids=["extra-field", "quantity-over-100", "sku-pattern", "26-lines"],
)
def test_what_the_api_model_refuses_is_refused_again_and_nothing_is_reserved(
    catalog: LocalAws, lambda_context: Any, items: list[dict[str, Any]], message: str
) -> None:
    """The API's model is one deploy setting away from loose; the step re-checks the contract's limits."""
    before = contents(catalog, "InventoryTable")

    with pytest.raises(InvalidOrder, match=message):
        reserve(lambda_context, items)

    assert contents(catalog, "InventoryTable") == before


def test_an_unknown_sku_is_named_and_nothing_is_reserved(catalog: LocalAws, lambda_context: Any) -> None:
    before = contents(catalog, "InventoryTable")

    with pytest.raises(UnknownSku, match=r"^SKU-9 is not in the catalog$"):
        reserve(lambda_context, [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-9", "quantity": 1}])

    assert contents(catalog, "InventoryTable") == before


def test_skus_priced_in_different_currencies_are_an_invalid_order(catalog: LocalAws, lambda_context: Any) -> None:
    with pytest.raises(InvalidOrder, match=r"different currencies \(EUR, USD\)"):
        reserve(lambda_context, [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-EU", "quantity": 1}])

    assert stock(catalog, "SKU-1") == (10, 0)
    assert stock(catalog, "SKU-EU") == (5, 0)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (None, "items must be of type list"),
        ([], "items must not be empty"),
        ([{"sku": "SKU-1", "quantity": 0}], r"items\[0\]\.quantity must be a positive integer"),
        ([{"sku": "SKU-1", "quantity": True}], r"items\[0\]\.quantity must be of type int"),
        ([{"sku": "", "quantity": 1}], r"items\[0\]\.sku must not be empty"),
    ],
)
def test_a_malformed_command_is_refused(catalog: LocalAws, lambda_context: Any, items: Any, message: str) -> None:
    with pytest.raises(InvalidCommand, match=message):
        reserve(lambda_context, items)
    assert stock(catalog, "SKU-1") == (10, 0)


def test_a_reserve_replayed_after_success_answers_the_same_and_takes_the_stock_once(
    catalog: LocalAws, lambda_context: Any
) -> None:
    items = [{"sku": "SKU-1", "quantity": 3}, {"sku": "SKU-2", "quantity": 1}]
    first = reserve(lambda_context, items)
    inventory = contents(catalog, "InventoryTable")

    assert reserve(lambda_context, items) == first

    assert contents(catalog, "InventoryTable") == inventory  # the reservation's condition failed: nothing written
    assert stock(catalog, "SKU-1") == (7, 3)
    assert stock(catalog, "SKU-2") == (2, 1)
    assert contents(catalog, "IdempotencyTable") == []  # no Powertools record: the reservation item is the record


def test_a_retry_after_a_crash_between_the_write_and_the_answer_gets_the_answer_and_takes_the_stock_once(
    catalog: LocalAws, lambda_context: Any, crash_after_write: Any
) -> None:
    """The transaction committed, then the invocation died (a timeout): the caller never got the answer."""
    items = [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}]
    recover = crash_after_write("reserve")
    with pytest.raises(Exception, match=r"died after repository\.reserve"):
        reserve(lambda_context, items)
    assert stock(catalog, "SKU-1") == (8, 2)  # the write happened
    recover()

    answer = reserve(lambda_context, items)

    assert answer == {
        "reservationId": answer["reservationId"],
        "items": [
            {"sku": "SKU-1", "name": "Espresso beans", "quantity": 2, "unitPrice": 1999, "lineTotal": 3998},
            {"sku": "SKU-2", "name": "Dripper", "quantity": 1, "unitPrice": 500, "lineTotal": 500},
        ],
        "total": 4498,
        "currency": "USD",
    }
    assert answer["reservationId"].startswith("res_")
    assert stock(catalog, "SKU-1") == (8, 2)
    assert stock(catalog, "SKU-2") == (2, 1)
    assert reserve(lambda_context, items) == answer


def test_a_replay_answers_the_stored_reservation_even_after_the_catalog_changed(
    catalog: LocalAws, lambda_context: Any
) -> None:
    items = [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-2", "quantity": 1}]
    first = reserve(lambda_context, items)
    # SKU-2 repriced in EUR: the order could not be priced again as one order, but it was reserved already.
    service.seed_catalog([{**CATALOG[1], "unitPrice": 450, "currency": "EUR"}])

    assert reserve(lambda_context, items) == first

    assert stock(catalog, "SKU-1") == (9, 1)
    assert stock(catalog, "SKU-2") == (2, 1)


@pytest.mark.parametrize(
    "other_items",
    [
        [{"sku": "SKU-1", "quantity": 5}],  # another quantity
        [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-2", "quantity": 1}],  # another line
        [{"sku": "SKU-2", "quantity": 1}],  # another SKU
        [{"sku": "SKU-9", "quantity": 1}],  # a SKU the catalog does not have
    ],
)
def test_a_reused_order_id_with_other_items_is_an_invalid_order_and_reserves_nothing_more(
    catalog: LocalAws, lambda_context: Any, other_items: list[dict[str, Any]]
) -> None:
    """What Powertools' payload validation refused (IdempotencyValidationError) is a business error now:
    InvalidOrder, final in the ASL and caught to NothingToUndo, so the first command's stock stays held."""
    first = reserve(lambda_context, [{"sku": "SKU-1", "quantity": 1}])
    inventory = contents(catalog, "InventoryTable")

    with pytest.raises(InvalidOrder, match=f"^order {ORDER} is already reserved with other items"):
        reserve(lambda_context, other_items)

    assert contents(catalog, "InventoryTable") == inventory
    assert stock(catalog, "SKU-1") == (9, 1)
    assert reserve(lambda_context, [{"sku": "SKU-1", "quantity": 1}]) == first


def test_a_reserve_is_one_catalog_read_and_one_transaction(
    catalog: LocalAws, lambda_context: Any, dynamodb_calls: Any
) -> None:
    """No idempotency record: 2 DynamoDB calls, where Powertools added a conditional put and an update."""
    items = [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-2", "quantity": 1}]
    with dynamodb_calls() as calls:
        first = reserve(lambda_context, items)
    assert calls == ["BatchGetItem", "TransactWriteItems"]

    with dynamodb_calls() as calls:
        assert reserve(lambda_context, items) == first
    assert calls == ["BatchGetItem", "TransactWriteItems (cancelled)"]  # the replay: its condition found the item


def test_a_reserve_arriving_after_its_release_takes_nothing(catalog: LocalAws, lambda_context: Any) -> None:
    """The saga timed out on reserve and compensated; the slow reserve lands afterwards."""
    assert handler.lambda_handler({"action": "ReleaseInventory", "orderId": ORDER}, lambda_context) == {
        "service": "inventory",
        "status": "NOTHING_TO_RELEASE",
    }

    with pytest.raises(ReservationReleased):
        reserve(lambda_context, [{"sku": "SKU-1", "quantity": 2}])

    assert stock(catalog, "SKU-1") == (10, 0)


def test_the_sample_reserve_event_reserves_from_the_seed_catalog(aws: LocalAws, lambda_context: Any) -> None:
    import json
    from pathlib import Path

    seed = json.loads((Path(__file__).parents[3] / "data" / "inventory-seed.json").read_text(encoding="utf-8"))
    service.seed_catalog(seed)
    event = read_event("inventory-reserve.json")
    prices = {item["sku"]: item["unitPrice"] for item in seed}

    answer = handler.lambda_handler(event, lambda_context)

    assert [(line["sku"], line["quantity"]) for line in answer["items"]] == [
        (line["sku"], line["quantity"]) for line in event["items"]
    ]
    assert answer["total"] == sum(prices[line["sku"]] * line["quantity"] for line in event["items"])
    assert answer["currency"] == "USD"
