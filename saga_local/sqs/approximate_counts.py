"""A queue's approximate message counts, computed with one clock reading instead of one per message."""

from collections.abc import Sequence
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace


def _changes() -> Sequence[Change]:
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Queue

    def delayed(queue: Any) -> int:
        now = unix_time_millis()
        return sum(1 for message in queue._messages if now < message.delayed_until)

    def not_visible(queue: Any) -> int:
        now = unix_time_millis()
        return sum(1 for message in queue._messages if not now > message.visible_at)

    def visible(queue: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in queue._messages if now > m.visible_at and not now < m.delayed_until)

    return [
        Replace(Queue, "approximate_number_of_messages_delayed", property(delayed)),
        Replace(Queue, "approximate_number_of_messages_not_visible", property(not_visible)),
        Replace(Queue, "approximate_number_of_messages", property(visible)),
    ]


APPROXIMATE_COUNTS_ONE_CLOCK = Patch(
    name="sqs-approximate-counts",
    kind=Kind.SPEED,
    replaces="moto.sqs.models.Queue.approximate_number_of_messages(_delayed, _not_visible): two datetime "
    "conversions per message in the queue, for every SendMessage (it reads Queue.attributes, which computes them)",
    because="the audit queue keeps every order event (nothing consumes it locally): SNS deliveries grew "
    "with its length and were an eighth of the stack's CPU per order",
    changes=_changes,
)
