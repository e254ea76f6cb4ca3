"""The order as the orders service knows it, its view (the JSON every reader sees) and its errors.

The view is the contract: the answer of every step, the body of `GET /orders/{id}` and the `data` of
every order event (schemas/order-event.schema.json). `Order.view()` and `Order.from_view()` are the
only translation between the two, so the model and the view cannot drift.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from saga_common.errors import BusinessError


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


# ---------------------------------------------------------------- errors (Step Functions sees the class name)
class InvalidOrder(BusinessError):
    """The request cannot become an order; the message names the field (`items[1].sku: ...`)."""


class IdempotencyKeyReused(BusinessError):
    """The Idempotency-Key already created an order from another request body."""


class OrderNotPending(BusinessError):
    """The order already left PENDING another way (cancelled), so it cannot be confirmed."""


# ---------------------------------------------------------------- the model
@dataclass(frozen=True, kw_only=True)
class OrderLine:
    """A requested line; `name`, `unit_price` and `line_total` are known once inventory priced it."""

    sku: str
    quantity: int
    name: str | None = None
    unit_price: int | None = None
    line_total: int | None = None

    def view(self) -> dict[str, Any]:
        line: dict[str, Any] = {"sku": self.sku, "quantity": self.quantity}
        priced = {"name": self.name, "unitPrice": self.unit_price, "lineTotal": self.line_total}
        line.update({key: value for key, value in priced.items() if value is not None})
        return line

    @classmethod
    def from_view(cls, line: dict[str, Any]) -> "OrderLine":
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

    def view(self) -> dict[str, Any]:
        return {"code": self.code.value, "detail": self.detail}


@dataclass(frozen=True, kw_only=True)
class FailedCompensation:
    service: str
    error: str

    def view(self) -> dict[str, Any]:
        return {"service": self.service, "error": self.error}


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

    def view(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id,
            "status": self.status.value,
            "customerId": self.customer_id,
            "items": [line.view() for line in self.items],
            "total": self.total,
            "currency": self.currency,
            "paymentId": self.payment_id,
            "invoiceId": self.invoice_id,
            "failureReason": self.failure_reason.view() if self.failure_reason else None,
            "failedCompensations": [failed.view() for failed in self.failed_compensations],
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> "Order":
        reason = view.get("failureReason")
        return cls(
            order_id=view["orderId"],
            status=OrderStatus(view["status"]),
            customer_id=view["customerId"],
            items=tuple(OrderLine.from_view(line) for line in view["items"]),
            created_at=view["createdAt"],
            updated_at=view["updatedAt"],
            total=_optional_int(view.get("total")),
            currency=view.get("currency"),
            payment_id=view.get("paymentId"),
            invoice_id=view.get("invoiceId"),
            failure_reason=FailureReason(code=FailureCode(reason["code"]), detail=reason["detail"]) if reason else None,
            failed_compensations=tuple(
                FailedCompensation(service=failed["service"], error=failed["error"])
                for failed in view.get("failedCompensations", [])
            ),
        )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
