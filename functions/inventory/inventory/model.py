"""Inventory's data: catalog items, priced lines and reservations. Money in integer minor units."""

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from saga_common.dynamodb import Item
from saga_common.ids import derived_id


class ReservationStatus(StrEnum):
    RESERVED = "RESERVED"
    RELEASED = "RELEASED"


@dataclass(frozen=True)
class CatalogItem:
    sku: str
    name: str
    unit_price: int
    currency: str
    available: int
    reserved: int

    @classmethod
    def from_item(cls, item: Item) -> "CatalogItem":
        return cls(
            sku=item["sku"],
            name=item["name"],
            unit_price=item["unitPrice"],
            currency=item["currency"],
            available=item["available"],
            reserved=item["reserved"],
        )


@dataclass(frozen=True)
class RequestedLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class PricedLine:
    sku: str
    name: str
    quantity: int
    unit_price: int

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "quantity": self.quantity,
            "unitPrice": self.unit_price,
            "lineTotal": self.line_total,
        }

    @classmethod
    def from_dict(cls, line: dict[str, Any]) -> "PricedLine":
        return cls(sku=line["sku"], name=line["name"], quantity=line["quantity"], unit_price=line["unitPrice"])


@dataclass(frozen=True)
class Reservation:
    """Stock held for one order. A RELEASED reservation without items is a fence: release ran before
    any reserve landed, and a late reserve must not take stock for an order the saga gave up on."""

    order_id: str
    status: ReservationStatus
    items: tuple[PricedLine, ...]
    currency: str | None

    @property
    def reservation_id(self) -> str:
        return derived_id("res", self.order_id)

    @property
    def total(self) -> int:
        return sum(line.line_total for line in self.items)

    def quantities(self) -> dict[str, int]:
        """Units per SKU: an order may list a SKU on several lines, a transaction touches it once."""
        counts: Counter[str] = Counter()
        for line in self.items:
            counts[line.sku] += line.quantity
        return dict(counts)

    def to_dict(self) -> dict[str, Any]:
        """The ReserveInventory step's answer (docs/saga-steps.md)."""
        return {
            "reservationId": self.reservation_id,
            "items": [line.to_dict() for line in self.items],
            "total": self.total,
            "currency": self.currency,
        }

    def to_item(self) -> Item:
        """The reservation's attributes in the inventory table (the repository adds the key and times)."""
        return {"orderId": self.order_id, "status": self.status.value, **self.to_dict()}

    @classmethod
    def from_item(cls, item: Item) -> "Reservation":
        return cls(
            order_id=item["orderId"],
            status=ReservationStatus(item["status"]),
            items=tuple(PricedLine.from_dict(line) for line in item.get("items", [])),
            currency=item.get("currency"),
        )
