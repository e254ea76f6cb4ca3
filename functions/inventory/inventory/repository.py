"""The inventory table: `SKU#<sku>` catalog items and `RESERVATION#<orderId>` reservations.

Stock moves only inside transactions whose conditions keep `available` from going below zero, so
concurrent orders can never oversell, whatever the interleaving.
"""

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from saga_common.aws import table
from saga_common.clock import now
from saga_common.dynamodb import Item, cancellation_reasons, is_condition_failure, plain, transact_write
from saga_common.errors import TechnicalError

from inventory.errors import InsufficientStock, ReservationExists
from inventory.model import CatalogItem, Reservation, ReservationStatus
from inventory.settings import settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_BATCH_GET_LIMIT = 100
_BATCH_GET_ATTEMPTS = 5


def _table() -> "Table":
    return table(settings().inventory_table)


def _sku_key(sku: str) -> Item:
    return {"pk": f"SKU#{sku}"}


def _reservation_key(order_id: str) -> Item:
    return {"pk": f"RESERVATION#{order_id}"}


def get_catalog(skus: Iterable[str]) -> dict[str, CatalogItem]:
    """The catalog items of `skus` that exist, by SKU, read strongly consistent."""
    wanted = list(dict.fromkeys(skus))
    found: dict[str, CatalogItem] = {}
    for start in range(0, len(wanted), _BATCH_GET_LIMIT):
        keys = [_sku_key(sku) for sku in wanted[start : start + _BATCH_GET_LIMIT]]
        for item in _batch_get(keys):
            found[item["sku"]] = CatalogItem.from_item(item)
    return found


def _batch_get(keys: list[Item]) -> Iterator[Item]:
    client, name = _table().meta.client, _table().name
    request: dict[str, Any] = {name: {"Keys": keys, "ConsistentRead": True}}
    for attempt in range(_BATCH_GET_ATTEMPTS):
        response = client.batch_get_item(RequestItems=request)
        yield from (plain(item) for item in response["Responses"].get(name, []))
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return
        time.sleep(0.05 * 2**attempt)  # throttled: back off before asking for the rest
    raise TechnicalError("catalog read still throttled after retries")


def get_reservation(order_id: str) -> Reservation | None:
    item = _table().get_item(Key=_reservation_key(order_id), ConsistentRead=True).get("Item")
    return Reservation.from_item(plain(item)) if item else None


def reserve(reservation: Reservation) -> None:
    """Take every SKU's units and write the reservation, in one transaction: all or nothing.

    Raises ReservationExists when the order already has one (whatever the stock says) and
    InsufficientStock otherwise when some SKU is short.
    """
    name = _table().name
    quantities = reservation.quantities()
    take_stock: list[TransactWriteItemTypeDef] = [
        {
            "Update": {
                "TableName": name,
                "Key": _sku_key(sku),
                "UpdateExpression": "SET available = available - :q, reserved = reserved + :q",
                "ConditionExpression": "available >= :q",
                "ExpressionAttributeValues": {":q": quantity},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        for sku, quantity in quantities.items()
    ]
    put_reservation: TransactWriteItemTypeDef = {
        "Put": {
            "TableName": name,
            "Item": {**_reservation_key(reservation.order_id), **reservation.to_item(), "createdAt": now()},
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    # The reservation goes first: should DynamoDB stop at the first failed condition, an existing
    # reservation (a replay) is still what it reports, even if the stock ran out since.
    actions = [put_reservation, *take_stock]
    try:
        transact_write(_table().meta.client, actions)
    except ClientError as error:
        reasons = cancellation_reasons(error)
        if not reasons:
            raise
        reservation_reason, *line_reasons = reasons
        if reservation_reason.condition_failed and reservation_reason.item:
            raise ReservationExists(Reservation.from_item(reservation_reason.item)) from None
        short = {
            sku: (reason.item or {}).get("available", 0)  # no item: the SKU left the catalog meanwhile
            for sku, reason in zip(quantities, line_reasons, strict=True)
            if reason.condition_failed
        }
        if not short:
            raise
        raise InsufficientStock(short) from None


def release(reservation: Reservation) -> bool:
    """Give the reservation's units back and mark it RELEASED, in one transaction.

    False when it was no longer RESERVED (another release won): nothing changed.
    """
    name = _table().name
    actions: list[TransactWriteItemTypeDef] = [
        {
            "Update": {
                "TableName": name,
                "Key": _sku_key(sku),
                "UpdateExpression": "SET available = available + :q, reserved = reserved - :q",
                "ExpressionAttributeValues": {":q": quantity},
            }
        }
        for sku, quantity in reservation.quantities().items()
    ]
    actions.append(
        {
            "Update": {
                "TableName": name,
                "Key": _reservation_key(reservation.order_id),
                "UpdateExpression": "SET #status = :released, releasedAt = :now",
                "ConditionExpression": "#status = :reserved",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":released": ReservationStatus.RELEASED.value,
                    ":reserved": ReservationStatus.RESERVED.value,
                    ":now": now(),
                },
            }
        }
    )
    try:
        transact_write(_table().meta.client, actions)
    except ClientError as error:
        reasons = cancellation_reasons(error)
        if reasons and reasons[-1].condition_failed:
            return False
        raise
    return True


def fence(order_id: str) -> bool:
    """Record that the order was released before anything was reserved, so a late reserve takes nothing.

    False when a reservation landed first: the caller has to release it instead.
    """
    try:
        _table().put_item(
            Item={
                **_reservation_key(order_id),
                "orderId": order_id,
                "status": ReservationStatus.RELEASED.value,
                "items": [],
                "total": 0,
                "releasedAt": now(),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def upsert_catalog_item(item: CatalogItem) -> None:
    """Write a SKU's name and price; its stock only if it is new (stock that orders moved is kept)."""
    _table().update_item(
        Key=_sku_key(item.sku),
        UpdateExpression=(
            "SET sku = :sku, #name = :name, unitPrice = :price, currency = :currency,"
            " available = if_not_exists(available, :available), reserved = if_not_exists(reserved, :reserved)"
        ),
        ExpressionAttributeNames={"#name": "name"},
        ExpressionAttributeValues={
            ":sku": item.sku,
            ":name": item.name,
            ":price": item.unit_price,
            ":currency": item.currency,
            ":available": item.available,
            ":reserved": item.reserved,
        },
    )
