"""The orders table: one item per order (`StoredOrder.to_item()`), written whole by conditional puts."""

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from saga_common.aws import table
from saga_common.dynamodb import found_item, is_condition_failure

from orders.model import Order, StoredOrder

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


def _table() -> "Table":
    return table("ORDERS_TABLE")


def get(order_id: str) -> StoredOrder | None:
    # Strongly consistent: confirm and close run milliseconds after the write they build on.
    item = _table().get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
    return StoredOrder.from_item(item) if item else None


def insert(order: Order, request_hash: str) -> StoredOrder | None:
    """Store a new order. Returns None if it was stored, or the order already stored under its id."""
    try:
        _table().put_item(
            Item=StoredOrder(order, request_hash, version=1).to_item(),
            ConditionExpression="attribute_not_exists(orderId)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        existing = found_item(error) if is_condition_failure(error) else None
        if existing is None:
            raise
        return StoredOrder.from_item(existing)  # one round trip instead of a put then a get
    return None


def replace(current: StoredOrder, updated: Order) -> bool:
    """Write `updated` over `current` if nobody changed it since it was read. False if someone did."""
    try:
        _table().put_item(
            Item=StoredOrder(updated, current.request_hash, version=current.version + 1).to_item(),
            ConditionExpression="#status = :status AND #version = :version",
            ExpressionAttributeNames={"#status": "status", "#version": "version"},
            ExpressionAttributeValues={":status": current.order.status.value, ":version": current.version},
        )
    except ClientError as error:
        if is_condition_failure(error):
            return False
        raise
    return True
