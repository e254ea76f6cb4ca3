"""An order event: what a change of the orders table means to the rest of the world.

The envelope (`OrderEvent.to_dict()`) is schemas/order-event.schema.json. Its `data` is the order view
exactly as the orders service stored it in the item's `document`, so consumers read the same JSON as
`GET /orders/{id}`.
"""

import json
import uuid
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = "1.1"  # 1.1: `caller`, order.resolved and the order view's `resolution`
PLACED = "order.placed"
# An operator marked the order resolved by hand (`ops resolve`): its status stays, its view gains `resolution`.
RESOLVED = "order.resolved"
# A MODIFY is news only when the order reaches one of these statuses (the stream filter agrees).
TYPE_BY_STATUS = {
    "CONFIRMED": "order.confirmed",
    "CANCELLED": "order.cancelled",
    "COMPENSATION_FAILED": "order.compensation_failed",
}
# Fixed namespace for event ids: uuid5(namespace, "<orderId>:<change>") is the same on every
# redelivery and rewrite of a state change, so consumers can deduplicate beyond SNS's 5 minutes.
EVENT_ID_NAMESPACE = uuid.UUID("5f0c6a55-8b6e-4d64-9d55-0b1f3c9e2a71")


@dataclass(frozen=True, kw_only=True)
class OrderEvent:
    type: str
    source: str
    order_id: str
    status: str
    time: str
    data: dict[str, Any]
    caller: str | None = None  # the IAM principal that placed the order (an ARN, nothing secret)

    @property
    def change(self) -> str:
        """What changed: the status reached, or RESOLVED (a resolution leaves the status as it was)."""
        return "RESOLVED" if self.type == RESOLVED else self.status

    @property
    def deduplication_id(self) -> str:
        """One per order state change: SNS FIFO drops a republished copy."""
        return f"{self.order_id}:{self.change}"

    @property
    def id(self) -> str:
        return str(uuid.uuid5(EVENT_ID_NAMESPACE, self.deduplication_id))

    def to_dict(self) -> dict[str, Any]:
        envelope = {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "orderId": self.order_id,
            "schemaVersion": SCHEMA_VERSION,
            "data": self.data,
        }
        if self.caller is not None:  # orders stored before callers were recorded have none
            envelope["caller"] = self.caller
        return envelope

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))
