"""Inventory's steps: reserve an order's stock, priced from the catalog, and release it.

Prices always come from the catalog, never from the client. ReserveInventory is one DynamoDB transaction
(every line's `available >= quantity` plus the reservation's `attribute_not_exists`), so an order gets
all of its items or none, and concurrent orders never oversell.

Both steps are idempotent by their own conditional writes, without Powertools idempotency (whose record
would cost two more writes per call): the reservation item `RESERVATION#<orderId>` is written at most
once, by the transaction that takes the stock, and a replay, a retry after a lost answer or a duplicate
delivery finds it (the failed condition hands it back) and answers from it. Release moves it from
RESERVED to RELEASED under a condition, or fences an order that has none. docs/saga-steps.md lists the
tests that prove each case.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

from saga_common.commands import currency, objects, positive_int, required
from saga_common.errors import ConcurrentUpdate, InvalidCommand
from saga_common.idempotency import Command
from saga_common.observability import logger

from inventory import repository
from inventory.errors import (
    InsufficientStock,
    InvalidOrder,
    OutOfStock,
    ReservationExists,
    ReservationReleased,
    UnknownSku,
)
from inventory.model import CatalogItem, PricedLine, RequestedLine, Reservation, ReservationStatus

# The API contract's limits (api/openapi.yaml, OrderRequest), checked again here: a model a deployer loosens, or a
# caller that reaches the state machine some other way, must not reserve what the API would refuse.
MAX_LINES = 25
MAX_QUANTITY = 100
SKU_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
LINE_FIELDS = frozenset({"sku", "quantity"})
# Rounds of read-then-conditional-write in ReleaseInventory; each lost round means a concurrent writer
# finished first, so the next read sees a settled state.
_RELEASE_ROUNDS = 3


def reserve_inventory(*, command: Command) -> dict[str, Any]:
    order_id = required(command, "orderId", str)
    lines = _requested_lines(command)
    try:
        reservation = price(order_id, lines, repository.get_catalog(line.sku for line in lines))
    except (UnknownSku, InvalidOrder):
        # The catalog may have changed since this order was reserved: a replay still answers its reservation.
        stored = repository.get_reservation(order_id)
        if stored is None:
            raise
        return _replay(stored, lines)
    try:
        repository.reserve(reservation)
    except ReservationExists as exists:
        return _replay(exists.reservation, lines)
    except InsufficientStock as short:
        requested = reservation.quantities()
        raise OutOfStock(
            "; ".join(f"{sku}: requested {requested[sku]}, available {units}" for sku, units in short.available.items())
        ) from None
    logger.info("stock reserved", extra={"reservationId": reservation.reservation_id, "total": reservation.total})
    return reservation.to_dict()


def _requested_lines(command: Command) -> list[RequestedLine]:
    lines = [
        _requested_line(at, item) for at, item in objects(command, "items", what="an object with sku and quantity")
    ]
    if len(lines) > MAX_LINES:
        raise InvalidOrder(f"items: an order holds at most {MAX_LINES} lines, got {len(lines)}")
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.sku in seen:  # API Gateway's model cannot say "unique by sku"
            raise InvalidOrder(f"items[{index}].sku: {line.sku} appears more than once; send one line per SKU")
        seen.add(line.sku)
    return lines


def _requested_line(at: str, item: Mapping[str, Any]) -> RequestedLine:
    if extra := sorted(set(item) - LINE_FIELDS):
        raise InvalidOrder(f"{at}{extra[0]}: unexpected field; a line has only sku and quantity")
    sku, quantity = required(item, "sku", str, at=at), positive_int(item, "quantity", at=at)
    if not SKU_PATTERN.fullmatch(sku):
        raise InvalidOrder(f"{at}sku must be 1-32 upper-case letters, digits or hyphens")
    if quantity > MAX_QUANTITY:
        raise InvalidOrder(f"{at}quantity must be at most {MAX_QUANTITY}")
    return RequestedLine(sku, quantity)


def price(order_id: str, lines: list[RequestedLine], catalog: Mapping[str, CatalogItem]) -> Reservation:
    """Price each line from the catalog. One currency per order: it is charged as one amount."""
    unknown = [sku for sku in dict.fromkeys(line.sku for line in lines) if sku not in catalog]
    if unknown:
        raise UnknownSku(f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not in the catalog")
    currencies = sorted({catalog[line.sku].currency for line in lines})
    if len(currencies) > 1:
        raise InvalidOrder(f"the SKUs are priced in different currencies ({', '.join(currencies)}); an order has one")
    return Reservation(
        order_id=order_id,
        status=ReservationStatus.RESERVED,
        items=tuple(
            PricedLine(
                sku=line.sku,
                name=catalog[line.sku].name,
                quantity=line.quantity,
                unit_price=catalog[line.sku].unit_price,
            )
            for line in lines
        ),
        currency=currencies[0],
    )


def _replay(stored: Reservation, lines: list[RequestedLine]) -> dict[str, Any]:
    """The order already has a reservation: a replay, a retry whose first answer was lost, or a duplicate
    delivery. It answers what the first call answered, or refuses without touching the stock."""
    if stored.status is not ReservationStatus.RESERVED:
        # Released (or fenced) by the saga's compensation: reserving now would hold stock forever.
        raise ReservationReleased(f"the stock of order {stored.order_id} was already released; nothing reserved")
    if [(line.sku, line.quantity) for line in stored.items] != [(line.sku, line.quantity) for line in lines]:
        # An order id reserves one list of items (orders refuses a reused Idempotency-Key with another
        # body first); the stored reservation belongs to the first command and is left as it is.
        raise InvalidOrder(f"order {stored.order_id} is already reserved with other items; nothing more reserved")
    logger.info("reservation already stored", extra={"reservationId": stored.reservation_id})
    return stored.to_dict()


def release_inventory(*, command: Command) -> dict[str, Any]:
    """Give the order's stock back once: each round reads the reservation and makes one conditional write
    (RESERVED -> RELEASED, or the fence where there is none); a replay only reads what the first call left."""
    order_id = required(command, "orderId", str)
    for _ in range(_RELEASE_ROUNDS):
        reservation = repository.get_reservation(order_id)
        if reservation is None:
            # Fence the order first: a reserve still in flight must not take stock after this answer.
            if repository.fence(order_id):
                return _released("NOTHING_TO_RELEASE")
        elif reservation.status is ReservationStatus.RELEASED:
            return _released("RELEASED" if reservation.items else "NOTHING_TO_RELEASE")
        elif repository.release(reservation):
            logger.info("stock released", extra={"reservationId": reservation.reservation_id})
            return _released("RELEASED")
    raise ConcurrentUpdate(f"the reservation of order {order_id} kept changing while being released")


def _released(status: str) -> dict[str, Any]:
    return {"service": "inventory", "status": status}


def seed_catalog(items: Iterable[Mapping[str, Any]]) -> int:
    """Write catalog items `{sku, name, unitPrice, currency, stock}` (unitPrice in minor units),
    e.g. from data/inventory-seed.json. Returns how many were written.

    Safe to run again: names and prices are updated, but a SKU's stock is set only when the SKU is
    new, so a re-run never undoes the stock that live reservations moved. Every item is validated
    before any is written.
    """
    catalog = [_catalog_item(index, item) for index, item in enumerate(items)]
    skus = [item.sku for item in catalog]
    if len(set(skus)) != len(skus):
        raise ValueError("catalog lists a SKU twice")
    for item in catalog:
        repository.upsert_catalog_item(item)
    return len(catalog)


def _catalog_item(index: int, item: Mapping[str, Any]) -> CatalogItem:
    try:
        stock = required(item, "stock", int)
        catalog_item = CatalogItem(
            sku=required(item, "sku", str),
            name=required(item, "name", str),
            unit_price=positive_int(item, "unitPrice"),
            currency=currency(item),
            available=stock,
            reserved=0,
        )
    except InvalidCommand as error:
        raise ValueError(f"catalog item {index}: {error}") from None
    if stock < 0:
        raise ValueError(f"catalog item {index}: stock must not be negative")
    return catalog_item
