"""What a change of the orders table means to the rest of the world: an order event.

The envelope is schemas/order-event.schema.json. Its `data` is the order view exactly as the orders
service stored it in the item's `document`, so consumers read the same JSON as `GET /orders/{id}`.
"""

import json
import uuid
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

SCHEMA_VERSION = "1.0"
PLACED = "order.placed"
# A MODIFY is news only when the order reaches one of these statuses (the stream filter agrees).
TYPE_BY_STATUS = {
    "CONFIRMED": "order.confirmed",
    "CANCELLED": "order.cancelled",
    "COMPENSATION_FAILED": "order.compensation_failed",
}
# Fixed namespace for event ids: uuid5(namespace, "<orderId>:<status>") is the same on every
# redelivery and rewrite of a state change, so consumers can deduplicate beyond SNS's 5 minutes.
EVENT_ID_NAMESPACE = uuid.UUID("5f0c6a55-8b6e-4d64-9d55-0b1f3c9e2a71")


class PoisonRecordError(Exception):
    """A stream record that should make an event but cannot: retrying it will not help."""


@dataclass(frozen=True, kw_only=True)
class OrderEvent:
    type: str
    source: str
    order_id: str
    status: str
    time: str
    data: dict[str, Any]

    @property
    def deduplication_id(self) -> str:
        """One per order state change: SNS FIFO drops a republished copy."""
        return f"{self.order_id}:{self.status}"

    @property
    def id(self) -> str:
        return str(uuid.uuid5(EVENT_ID_NAMESPACE, self.deduplication_id))

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "orderId": self.order_id,
            "schemaVersion": SCHEMA_VERSION,
            "data": self.data,
        }

    def to_json(self) -> str:
        return json.dumps(self.envelope(), separators=(",", ":"))


def event_for(record: DynamoDBRecord, *, source: str) -> OrderEvent | None:
    """The event a stream record stands for, or None if it is no order state change.

    Raises PoisonRecordError if the record should make an event but its new image has no usable order view.
    """
    change = record.dynamodb
    if change is None:
        raise PoisonRecordError(f"stream record {record.event_id} has no dynamodb change")
    status = change.new_image.get("status")
    if record.event_name is DynamoDBRecordEventName.INSERT:
        event_type: str | None = PLACED
    elif record.event_name is DynamoDBRecordEventName.MODIFY and status != change.old_image.get("status"):
        event_type = TYPE_BY_STATUS.get(str(status))
    else:
        event_type = None  # a REMOVE, or a write that did not change the status
    if event_type is None:
        return None
    view = _order_view(change.new_image, record.event_id)
    if view["status"] != status:
        raise PoisonRecordError(
            f"stream record {record.event_id}: status {status!r} but document says {view['status']!r}"
        )
    return OrderEvent(
        type=event_type,
        source=source,
        order_id=view["orderId"],
        status=view["status"],
        time=view["updatedAt"],  # when the state changed, not when the record was relayed
        data=view,
    )


def _order_view(new_image: dict[str, Any], event_id: str | None) -> dict[str, Any]:
    try:
        view = json.loads(new_image["document"])
    except (KeyError, TypeError, ValueError) as error:
        raise PoisonRecordError(f"stream record {event_id}: new image has no JSON document") from error
    if not isinstance(view, dict) or not all(
        isinstance(view.get(key), str) for key in ("orderId", "status", "updatedAt")
    ):
        raise PoisonRecordError(f"stream record {event_id}: document is not an order view")
    return view
