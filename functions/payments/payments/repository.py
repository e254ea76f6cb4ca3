"""The payments table's `PAYMENT#<orderId>` items: one payment per order.

Once written, a payment record is final for the charge step: conditional writes make sure a
duplicate or late charge never overwrites what a decline, a capture or a refund recorded.
"""

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from saga_common.aws import table
from saga_common.dynamodb import Item, found_item, is_condition_failure, plain

from payments.model import Payment, PaymentStatus


def _table() -> Any:
    return table("PAYMENTS_TABLE")


def _key(order_id: str) -> Item:
    return {"pk": f"PAYMENT#{order_id}"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def get_payment(order_id: str) -> Payment | None:
    item = _table().get_item(Key=_key(order_id), ConsistentRead=True).get("Item")
    return _payment(plain(item)) if item else None


def _payment(item: Item) -> Payment:
    return Payment(
        order_id=item["orderId"],
        status=PaymentStatus(item["status"]),
        amount=item["amount"],
        currency=item.get("currency"),
        charge_id=item.get("chargeId"),
        decline_reason=item.get("declineReason"),
    )


def record(payment: Payment) -> Payment | None:
    """Write the order's first payment record (CAPTURED, DECLINED or the CANCELLED fence).

    Returns None when written; otherwise the record already there, left unchanged.
    """
    item: Item = {
        **_key(payment.order_id),
        "orderId": payment.order_id,
        "paymentId": payment.payment_id,
        "status": payment.status.value,
        "amount": payment.amount,
        "currency": payment.currency,
        "chargeId": payment.charge_id,
        "declineReason": payment.decline_reason,
        f"{payment.status.value.lower()}At": _now(),
    }
    try:
        _table().put_item(
            Item={name: value for name, value in item.items() if value is not None},
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if is_condition_failure(error) and (stored := found_item(error)):
            return _payment(stored)
        raise
    return None


def mark_refunded(order_id: str) -> bool:
    """CAPTURED -> REFUNDED; False when the payment was no longer CAPTURED (another refund won)."""
    try:
        _table().update_item(
            Key=_key(order_id),
            UpdateExpression="SET #status = :refunded, refundedAt = :now",
            ConditionExpression="#status = :captured",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":refunded": PaymentStatus.REFUNDED.value,
                ":captured": PaymentStatus.CAPTURED.value,
                ":now": _now(),
            },
        )
    except ClientError as error:
        if is_condition_failure(error):
            return False
        raise
    return True
