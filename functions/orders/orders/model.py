"""The order as the orders service knows it, its view (the JSON every reader sees) and its stored item.

The view is the contract: the answer of every step, the body of `GET /orders/{id}` and the `data` of
every order event (schemas/order-event.schema.json). `Order.to_dict()` and `Order.from_dict()` are the
only translation between the two, so the model and the view cannot drift.
"""

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from saga_common.dynamodb import Item


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"


class FailureCode(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    UNKNOWN_SKU = "UNKNOWN_SKU"
    INVALID_REQUEST = "INVALID_REQUEST"  # e.g. SKUs priced in different currencies
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


@dataclass(frozen=True, kw_only=True)
class OrderLine:
    """A requested line; `name`, `unit_price` and `line_total` are known once inventory priced it."""

    sku: str
    quantity: int
    name: str | None = None
    unit_price: int | None = None
    line_total: int | None = None

    def to_dict(self) -> dict[str, Any]:
        line: dict[str, Any] = {"sku": self.sku, "quantity": self.quantity}
        priced = {"name": self.name, "unitPrice": self.unit_price, "lineTotal": self.line_total}
        line.update({key: value for key, value in priced.items() if value is not None})
        return line

    @classmethod
    def from_dict(cls, line: dict[str, Any]) -> "OrderLine":
        return cls(
            sku=str(line["sku"]),
            quantity=int(line["quantity"]),
            name=line.get("name"),
            unit_price=_optional_int(line.get("unitPrice")),
            line_total=_optional_int(line.get("lineTotal")),
        )


@dataclass(frozen=True, kw_only=True)
class FailureReason:
    code: FailureCode
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "detail": self.detail}

    @classmethod
    def from_dict(cls, reason: dict[str, Any]) -> "FailureReason":
        return cls(code=FailureCode(reason["code"]), detail=reason["detail"])


@dataclass(frozen=True, kw_only=True)
class FailedCompensation:
    service: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "error": self.error}

    @classmethod
    def from_dict(cls, failed: dict[str, Any]) -> "FailedCompensation":
        return cls(service=failed["service"], error=failed["error"])


@dataclass(frozen=True, kw_only=True)
class Order:
    order_id: str
    status: OrderStatus
    customer_id: str
    items: tuple[OrderLine, ...]
    created_at: str
    updated_at: str
    total: int | None = None
    currency: str | None = None
    payment_id: str | None = None
    invoice_id: str | None = None
    failure_reason: FailureReason | None = None
    failed_compensations: tuple[FailedCompensation, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id,
            "status": self.status.value,
            "customerId": self.customer_id,
            "items": [line.to_dict() for line in self.items],
            "total": self.total,
            "currency": self.currency,
            "paymentId": self.payment_id,
            "invoiceId": self.invoice_id,
            "failureReason": self.failure_reason.to_dict() if self.failure_reason else None,
            "failedCompensations": [failed.to_dict() for failed in self.failed_compensations],
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }

    @classmethod
    def from_dict(cls, view: dict[str, Any]) -> "Order":
        reason = view.get("failureReason")
        return cls(
            order_id=view["orderId"],
            status=OrderStatus(view["status"]),
            customer_id=view["customerId"],
            items=tuple(OrderLine.from_dict(line) for line in view["items"]),
            created_at=view["createdAt"],
            updated_at=view["updatedAt"],
            total=_optional_int(view.get("total")),
            currency=view.get("currency"),
            payment_id=view.get("paymentId"),
            invoice_id=view.get("invoiceId"),
            failure_reason=FailureReason.from_dict(reason) if reason else None,
            failed_compensations=tuple(
                FailedCompensation.from_dict(failed) for failed in view.get("failedCompensations", [])
            ),
        )


@dataclass(frozen=True)
class StoredOrder:
    """An order as the orders table holds it, with what a conditional write needs to replace it.

    The item holds what conditions, the stream filter and the relay read at the top level (`orderId`,
    `status`, `requestHash`, `version`, `updatedAt`) and the order view as a JSON string in `document`:
    API Gateway's `GET /orders/{id}` returns `document` verbatim and the outbox relay publishes it.
    Every item is built by `to_item()`, so the top-level attributes always agree with the document.
    """

    order: Order
    request_hash: str
    version: int

    def to_item(self) -> Item:
        view = self.order.to_dict()
        return {
            "orderId": view["orderId"],
            "status": view["status"],
            "updatedAt": view["updatedAt"],
            "requestHash": self.request_hash,
            "version": self.version,
            "document": json.dumps(view, separators=(",", ":")),
        }

    @classmethod
    def from_item(cls, item: Item) -> "StoredOrder":
        # The view is JSON (plain ints); `version` is a DynamoDB number, a Decimal: int from here on.
        return cls(
            order=Order.from_dict(json.loads(item["document"])),
            request_hash=str(item["requestHash"]),
            version=int(item["version"]),
        )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
