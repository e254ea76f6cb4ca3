"""The payments table's `PAYMENT#<orderId>` items: one payment per order.

Once written, a payment record is final for the charge step: conditional writes make sure a
duplicate or late charge never overwrites what a decline, a capture or a refund recorded.
"""

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from saga_common.aws import table
from saga_common.clock import now
from saga_common.dynamodb import Item, found_item, is_condition_failure, plain

from payments.model import Payment, PaymentStatus
from payments.settings import settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


def _table() -> "Table":
    return table(settings().payments_table)


def _key(order_id: str) -> Item:
    return {"pk": f"PAYMENT#{order_id}"}


def get_payment(order_id: str) -> Payment | None:
    item = _table().get_item(Key=_key(order_id), ConsistentRead=True).get("Item")
    return Payment.from_item(plain(item)) if item else None


def record(payment: Payment) -> Payment | None:
    """Write the order's first payment record (CAPTURED, DECLINED or the CANCELLED fence).

    Returns None when written; otherwise the record already there, left unchanged.
    """
    try:
        _table().put_item(
            Item={**_key(payment.order_id), **payment.to_item(), f"{payment.status.value.lower()}At": now()},
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if is_condition_failure(error) and (stored := found_item(error)):
            return Payment.from_item(stored)
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
                ":now": now(),
            },
        )
    except ClientError as error:
        if is_condition_failure(error):
            return False
        raise
    return True
