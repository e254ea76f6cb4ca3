"""Where moto differs from AWS in ways this application relies on, closed here and nowhere else.

Each gap has a test named after it in tests/local/test_moto_gaps.py, so a moto upgrade that
reopens one fails there, not in a saga test far away.
"""

import threading
from functools import wraps
from typing import Any

_dynamodb_lock = threading.RLock()
_patched = False


def serialize_dynamodb() -> None:
    """moto's DynamoDB is not safe under concurrency: concurrent updates are lost and conditional
    writes are not atomic. DynamoDB applies each request atomically, so run one request at a time."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.responses import DynamoHandler

    unlocked = DynamoHandler.call_action

    @wraps(unlocked)
    def call_action(self: Any) -> Any:
        with _dynamodb_lock:
            return unlocked(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _patched = True
