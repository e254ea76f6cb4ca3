"""EventBridge Scheduler (and scheduled EventBridge rules) locally: each schedule of the template invokes its Lambda
target through the local Lambda runtime, as AWS would, every `rate(...)` period.

SAGA_LOCAL_SCHEDULE_SECONDS (unset: the template's period) shortens every period, for tests and chaos runs. cron()
and at() expressions are not emulated (the stack logs and skips them). Invocations are asynchronous on AWS: here each
runs on the schedule's own thread, and a run that takes longer than the period delays the next instead of overlapping
it. A run that did something (the recovery sweep's started or flagged orders) or failed is one line on the terminal
of `saga-local up` (the `saga_local.events` logger).
"""

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from saga_local.cloudformation.specs import ScheduleSpec

log = logging.getLogger(__name__)
events = logging.getLogger("saga_local.events")  # one line each on the terminal of `saga-local up`

Invoke = Callable[[str, Any], Any]  # (function ARN, event) -> the runtime's InvokeResult


def period(spec: ScheduleSpec, every: float | None = None) -> float:
    """The schedule's period in seconds: `every` (SAGA_LOCAL_SCHEDULE_SECONDS) when set, else the template's rate()."""
    return spec.interval_seconds if every is None else every


def _did_something(payload: Any) -> str:
    """`started 2 (ord_a, ord_b), flagged 1 (ord_c)` for a run that reported lists of what it did (the recovery sweep
    does); empty for a run that did nothing (what it skipped is not news)."""
    if not isinstance(payload, dict):
        return ""
    done = [(name, items) for name, items in payload.items() if isinstance(items, list) and items and name != "skipped"]
    return ", ".join(f"{name} {len(items)} ({', '.join(map(str, items[:3]))}{', ...' if len(items) > 3 else ''})"
                     for name, items in done)  # fmt: skip


class Scheduler:
    """One thread per enabled schedule; `stop()` ends them (a run in progress finishes first)."""

    def __init__(self, schedules: list[ScheduleSpec], invoke: Invoke, every: float | None = None) -> None:
        self.every = every
        self.schedules = [spec for spec in schedules if spec.enabled]
        self.invoke = invoke
        self.runs: dict[str, int] = {spec.logical_id: 0 for spec in self.schedules}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> "Scheduler":
        for spec in self.schedules:
            seconds = period(spec, self.every)
            thread = threading.Thread(target=self._run, args=(spec, seconds), name=f"schedule-{spec.logical_id}",
                                      daemon=True)  # fmt: skip
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, spec: ScheduleSpec, seconds: float) -> None:
        event = json.loads(spec.input) if spec.input else {}
        while not self._stop.wait(seconds):
            try:
                result = self.invoke(spec.target_arn, event)
            except Exception:  # the stack is shutting down, or the function is gone: try again next period
                log.exception("schedule %s: invoking %s failed", spec.logical_id, spec.target_arn)
                continue
            self.runs[spec.logical_id] += 1
            function = spec.target_arn.rsplit(":", 1)[-1]
            if error := getattr(result, "error", None):
                log.warning("schedule %s: %s answered %s", spec.logical_id, spec.target_arn, error)
                events.warning("schedule %s: %s failed: %s", spec.logical_id, function, error.get("errorType", error))
            elif summary := _did_something(getattr(result, "payload", None)):
                events.info("schedule %s: %s %s", spec.logical_id, function, summary)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=35)
