"""A payment as the payments table keeps it: one per order, money in integer minor units."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from saga_common.dynamodb import Item
from saga_common.ids import derived_id


class PaymentStatus(StrEnum):
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"
    # Refund ran before any charge was recorded: fences off a charge still in flight.
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class Payment:
    order_id: str
    status: PaymentStatus
    amount: int
    currency: str | None
    charge_id: str | None = None  # the provider's id, needed to refund
    decline_reason: str | None = None

    @property
    def payment_id(self) -> str:
        return derived_id("pay", self.order_id)

    def to_dict(self) -> dict[str, Any]:
        """The ChargePayment step's answer (docs/saga-steps.md)."""
        return {
            "paymentId": self.payment_id,
            "status": self.status.value,
            "amount": self.amount,
            "currency": self.currency,
        }

    def to_item(self) -> Item:
        """The payment's attributes in the payments table (the repository adds the key and times)."""
        item: Item = {
            "orderId": self.order_id,
            "paymentId": self.payment_id,
            "status": self.status.value,
            "amount": self.amount,
            "currency": self.currency,
            "chargeId": self.charge_id,
            "declineReason": self.decline_reason,
        }
        return {name: value for name, value in item.items() if value is not None}

    @classmethod
    def from_item(cls, item: Item) -> "Payment":
        return cls(
            order_id=item["orderId"],
            status=PaymentStatus(item["status"]),
            amount=item["amount"],
            currency=item.get("currency"),
            charge_id=item.get("chargeId"),
            decline_reason=item.get("declineReason"),
        )
