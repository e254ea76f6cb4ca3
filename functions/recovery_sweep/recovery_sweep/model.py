"""What the sweep reads of an order from its index, and the execution input it starts the saga with."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

OPEN, FLAGGED = "OPEN", "FLAGGED"  # the index's partitions: to sweep; given up on (an alarm and an operator)


@dataclass(frozen=True)
class SweepPolicy:
    """When an order is due, and how often it is tried again (the sweep's settings: recovery_sweep.settings)."""

    stuck_after_seconds: int  # longer than the saga's worst case: an order older than this has no live execution
    retry_limit: int  # executions the sweep starts for one order before it flags it
    backoff_seconds: int  # the wait before attempt n is backoff * 2^(n-1), on top of stuck_after

    def next_due(self, now: datetime, attempt: int) -> datetime:
        """The sweepAt after `attempt`: the order is due again stuck_after_seconds later than this."""
        return now + timedelta(seconds=self.backoff_seconds * 2 ** (attempt - 1))


@dataclass(frozen=True)
class IndexedOrder:
    """An order in the sweep's index (the Sweep GSI: keys, status and attempts projected)."""

    order_id: str
    status: str
    sweep: str
    sweep_at: str
    attempts: int

    def to_item(self) -> dict[str, Any]:
        return {"orderId": self.order_id, "status": self.status, "sweep": self.sweep, "sweepAt": self.sweep_at,
                "recoveryAttempts": self.attempts}  # fmt: skip

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "IndexedOrder":
        return cls(
            order_id=str(item["orderId"]), status=str(item.get("status", "")), sweep=str(item.get("sweep", "")),
            sweep_at=str(item.get("sweepAt", "")), attempts=int(item.get("recoveryAttempts", 0)),
        )  # fmt: skip


@dataclass(frozen=True)
class Recovery:
    """One execution the sweep starts: the order's own request, replayed, and why."""

    order_id: str
    idempotency_key: str
    request: dict[str, Any]
    attempt: int
    reason: str  # the status the order was found in: PENDING or COMPENSATION_FAILED
    swept_at: str
    caller: str = ""  # the IAM principal that placed the order (its `caller`), as the API gave it to the saga

    @property
    def execution_name(self) -> str:
        """Names the execution after the order and the attempt (found in the console and the logs by it); at most
        80 characters of [A-Za-z0-9-_], as Step Functions requires."""
        stamp = self.swept_at.replace(":", "").replace("-", "").replace(".", "")
        return f"recovery-{self.order_id.removeprefix('ord_')[:40]}-{self.attempt}-{stamp}"

    def execution_input(self) -> str:
        """The API's input for the same request (same caller, key and body), plus `recovery` naming the order: the saga
        reads that order and resumes it, and neither claims the key nor creates an order."""
        return json.dumps({
            "idempotencyKey": self.idempotency_key,
            "caller": self.caller,
            "requestId": f"recovery-sweep-{self.attempt}",
            "request": self.request,
            "recovery": {"orderId": self.order_id, "attempt": self.attempt, "reason": self.reason,
                         "sweptAt": self.swept_at},
        })  # fmt: skip
