"""EventBridge Scheduler (and scheduled EventBridge rules) locally: each schedule of the template invokes its Lambda
target through the local Lambda runtime, as AWS would, every `rate(...)` period.

LOCAL_SCHEDULE_SECONDS (unset: the template's period) shortens every period, for tests and chaos runs. cron() and at()
expressions are not emulated (the stack logs and skips them). Invocations are asynchronous on AWS: here each runs on
the schedule's own thread, and a run that takes longer than the period delays the next instead of overlapping it.
"""

import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from saga_local.cloudformation.specs import ScheduleSpec

SCHEDULE_SECONDS_ENV = "LOCAL_SCHEDULE_SECONDS"
log = logging.getLogger(__name__)

Invoke = Callable[[str, Any], Any]  # (function ARN, event) -> the runtime's InvokeResult


def period(spec: ScheduleSpec) -> float:
    """The schedule's period in seconds: LOCAL_SCHEDULE_SECONDS when set, else the template's rate()."""
    configured = os.environ.get(SCHEDULE_SECONDS_ENV)
    if configured:
        seconds = float(configured)
        if not seconds > 0:
            raise ValueError(f"{SCHEDULE_SECONDS_ENV} must be a number of seconds above 0, got {configured!r}")
        return seconds
    return spec.interval_seconds


class Scheduler:
    """One thread per enabled schedule; `stop()` ends them (a run in progress finishes first)."""

    def __init__(self, schedules: list[ScheduleSpec], invoke: Invoke) -> None:
        self.schedules = [spec for spec in schedules if spec.enabled]
        self.invoke = invoke
        self.runs: dict[str, int] = {spec.logical_id: 0 for spec in self.schedules}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> "Scheduler":
        for spec in self.schedules:
            try:
                seconds = period(spec)
            except ValueError as error:
                log.error("schedule %s not run locally: %s", spec.logical_id, error)
                continue
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
            if getattr(result, "error", None):
                log.warning("schedule %s: %s answered %s", spec.logical_id, spec.target_arn, result.error)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=35)
