"""One DynamoDB request at a time, as DynamoDB applies each request atomically."""

import threading
from collections.abc import Sequence
from functools import wraps
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace

_lock = threading.RLock()


def _changes() -> Sequence[Change]:
    from moto.dynamodb.responses import DynamoHandler

    unlocked = DynamoHandler.call_action

    @wraps(unlocked)
    def call_action(self: Any) -> Any:
        with _lock:
            return unlocked(self)

    return [Replace(DynamoHandler, "call_action", call_action)]


SERIALIZE_REQUESTS = Patch(
    name="dynamodb-request-lock",
    kind=Kind.GAP,
    replaces="moto.dynamodb.responses.DynamoHandler.call_action: requests run concurrently on shared items",
    because="DynamoDB applies each request atomically; moto loses concurrent ADDs and its conditional writes "
    "race (an oversell test would pass or fail by chance)",
    changes=_changes,
)
