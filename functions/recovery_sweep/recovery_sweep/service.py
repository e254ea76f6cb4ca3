"""The sweep: every order its index says is due gets one more execution of its saga, until a limit.

An order is due when its sweepAt is older than STUCK_AFTER_SECONDS (longer than the saga's worst case: no execution
of it can still be running). PENDING: its execution stopped half-way; the saga replayed on the stored request finds
what was done (each step is idempotent) and finishes or compensates. COMPENSATION_FAILED: the saga's recovery route
runs every compensation again. Each attempt is claimed on the order first (conditional on what was read), with the
next due time backed off; past RETRY_LIMIT attempts the order is flagged for an operator and RecoveryExhausted fires.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError
from saga_common.clock import iso
from saga_common.observability import logger, metrics, tracer

from recovery_sweep import repository
from recovery_sweep.errors import NothingToReplay, SweptMeanwhile
from recovery_sweep.model import OPEN, IndexedOrder, Recovery, SweepPolicy


@dataclass
class SweepReport:
    started: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # an AWS call failed: due again after its backoff

    def to_dict(self) -> dict[str, list[str]]:
        return {"started": self.started, "flagged": self.flagged, "skipped": self.skipped, "failed": self.failed}


def sweep(policy: SweepPolicy, *, limit: int, now: datetime | None = None) -> SweepReport:
    """One pass over the due orders (at most `limit`: the next minute's pass takes the rest)."""
    moment = now or datetime.now(UTC)
    cutoff = iso(moment - timedelta(seconds=policy.stuck_after_seconds))
    report = SweepReport()
    for order in repository.due(OPEN, cutoff, limit):
        try:
            recover(order, policy, moment, report)
        except SweptMeanwhile:
            report.skipped.append(order.order_id)  # another sweep took it, or it finished meanwhile
        except (ClientError, BotoCoreError):
            # One order's throttled or refused call must not leave the others of the batch unswept.
            report.failed.append(order.order_id)
            logger.exception("recovery not started: due again after its backoff", extra={"orderId": order.order_id})
    metrics.add_metric(name="RecoveriesStarted", unit=MetricUnit.Count, value=len(report.started))
    if report.flagged:
        metrics.add_metric(name="RecoveryExhausted", unit=MetricUnit.Count, value=len(report.flagged))
    return report


@tracer.capture_method(capture_response=False)
def recover(order: IndexedOrder, policy: SweepPolicy, now: datetime, report: SweepReport) -> None:
    tracer.put_annotation("orderId", order.order_id)
    if order.attempts >= policy.retry_limit:
        repository.flag(order, now=iso(now))
        report.flagged.append(order.order_id)
        logger.error("recovery given up: the order needs an operator",
                     extra={"orderId": order.order_id, "status": order.status, "attempts": order.attempts})  # fmt: skip
        return
    try:
        recovery = _recovery(order, order.attempts + 1, now)
    except NothingToReplay:
        repository.flag(order, now=iso(now))  # nothing to run the saga on: an operator decides
        report.flagged.append(order.order_id)
        logger.error(
            "no saved request or owner to replay: the order needs an operator", extra={"orderId": order.order_id}
        )
        return
    repository.claim(order, attempt=recovery.attempt, next_sweep_at=iso(policy.next_due(now, recovery.attempt)),
                     now=recovery.swept_at)  # fmt: skip
    execution = repository.start_execution(recovery.execution_name, recovery.execution_input())
    report.started.append(order.order_id)
    logger.warning("recovery execution started",
                   extra={"orderId": order.order_id, "status": order.status, "attempt": recovery.attempt,
                          "executionArn": execution})  # fmt: skip


def _recovery(order: IndexedOrder, attempt: int, now: datetime) -> Recovery:
    stored = repository.saved_request(order.order_id)
    if not stored or stored.get("status") != order.status:
        raise SweptMeanwhile(order.order_id)  # gone, or its status changed since the index was read
    if "savedRequest" not in stored or "idempotencyKey" not in stored or "caller" not in stored:
        raise NothingToReplay(order.order_id)  # an order stored before callers were recorded: an operator decides
    return Recovery(
        order_id=order.order_id, idempotency_key=str(stored["idempotencyKey"]),
        request=json.loads(str(stored["savedRequest"])), attempt=attempt, reason=order.status, swept_at=iso(now),
        caller=str(stored["caller"]),
    )  # fmt: skip
