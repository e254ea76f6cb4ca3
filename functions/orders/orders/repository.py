"""The orders table: one item per order, written whole by conditional puts.

An item holds what conditions, the stream filter and the relay read at the top level (`orderId`,
`status`, `requestHash`, `version`, `updatedAt`) and the order view as a JSON string in `document`:
API Gateway's `GET /orders/{id}` returns `document` verbatim and the outbox relay publishes it.
Every write goes through `_item()`, so the top-level attributes always agree with the document.
"""

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from saga_common.aws import table
from saga_common.dynamodb import found_item, is_condition_failure

from orders.models import Order

TABLE_ENV = "ORDERS_TABLE"


@dataclass(frozen=True)
class StoredOrder:
    """An order as read from the table, with what a conditional write needs to replace it."""

    order: Order
    request_hash: str
    version: int


class OrderRepository:
    def __init__(self, orders_table: Any | None = None) -> None:
        self._table = orders_table

    @property
    def table(self) -> Any:
        # Resolved per call: saga_common caches the Table for the execution environment.
        return self._table if self._table is not None else table(TABLE_ENV)

    def get(self, order_id: str) -> StoredOrder | None:
        # Strongly consistent: confirm and close run milliseconds after the write they build on.
        item = self.table.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
        return _stored(item) if item else None

    def insert(self, order: Order, request_hash: str) -> StoredOrder | None:
        """Store a new order. Returns None if it was stored, or the order already stored under its id."""
        try:
            self.table.put_item(
                Item=_item(order, request_hash, version=1),
                ConditionExpression="attribute_not_exists(orderId)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            existing = found_item(error) if is_condition_failure(error) else None
            if existing is None:
                raise
            return _stored(existing)  # one round trip instead of a put then a get
        return None

    def replace(self, current: StoredOrder, updated: Order) -> bool:
        """Write `updated` over `current` if nobody changed it since it was read. False if someone did."""
        try:
            self.table.put_item(
                Item=_item(updated, current.request_hash, version=current.version + 1),
                ConditionExpression="#status = :status AND #version = :version",
                ExpressionAttributeNames={"#status": "status", "#version": "version"},
                ExpressionAttributeValues={":status": current.order.status.value, ":version": current.version},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True


def _item(order: Order, request_hash: str, *, version: int) -> dict[str, Any]:
    view = order.view()
    return {
        "orderId": view["orderId"],
        "status": view["status"],
        "updatedAt": view["updatedAt"],
        "requestHash": request_hash,
        "version": version,
        "document": json.dumps(view, separators=(",", ":")),
    }


def _stored(item: dict[str, Any]) -> StoredOrder:
    # The view is JSON (plain ints); `version` is a DynamoDB number, a Decimal: int from here on.
    return StoredOrder(
        order=Order.from_view(json.loads(item["document"])),
        request_hash=str(item["requestHash"]),
        version=int(item["version"]),
    )
