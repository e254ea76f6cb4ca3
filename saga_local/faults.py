"""Faults injected into the local stack's Lambda invocations, for tests and chaos runs. Off by default.

The file named by LOCAL_FAULTS_FILE (re-read when it changes) holds rules:

    {"faults": [{"function": "PaymentsFunction",      # logical id or function name
                 "match": {"action": "refund"},        # fields the event must have (optional)
                 "error": "PaymentProviderUnavailable", # the error type the invocation fails with
                 "message": "injected",                 # optional
                 "rate": 1.0,                           # share of matching invocations (default 1)
                 "latencyMs": 0}]}                      # added before the invocation (optional)

A rule with no "error" only adds latency. The handler does not run when an error is injected.
"""

import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAULTS_FILE_ENV = "LOCAL_FAULTS_FILE"


@dataclass(frozen=True)
class Fault:
    error: str | None
    message: str
    latency_ms: int


class FaultInjector:
    def __init__(self, path: Path | None = None) -> None:
        configured = path or os.environ.get(FAULTS_FILE_ENV)
        self.path = Path(configured) if configured else None
        self._stamp: float | None = None
        self._rules: list[dict[str, Any]] = []
        self.injected: dict[str, int] = {}  # error type -> count, for reports

    def _load(self) -> list[dict[str, Any]]:
        if self.path is None or not self.path.exists():
            self._stamp, self._rules = None, []
            return self._rules
        stamp = self.path.stat().st_mtime_ns
        if stamp != self._stamp:
            try:
                self._rules = list(json.loads(self.path.read_text()).get("faults", []))
            except (OSError, ValueError):
                self._rules = []  # a half-written file: no faults until it is whole
            self._stamp = stamp
        return self._rules

    def for_invocation(self, function: tuple[str, ...], event: Any) -> Fault | None:
        """The fault to apply to this invocation of the function known by any of `function`'s names."""
        for rule in self._load():
            if rule.get("function") not in function:
                continue
            wanted = rule.get("match", {})
            if wanted and not (isinstance(event, dict) and all(event.get(k) == v for k, v in wanted.items())):
                continue
            if random.random() >= float(rule.get("rate", 1.0)):  # noqa: S311 - not cryptography
                continue
            fault = Fault(rule.get("error"), rule.get("message", "fault injected by the local stack"),
                          int(rule.get("latencyMs", 0)))  # fmt: skip
            if fault.error:
                self.injected[fault.error] = self.injected.get(fault.error, 0) + 1
            return fault
        return None

    @staticmethod
    def apply_latency(fault: Fault | None) -> None:
        if fault and fault.latency_ms:
            time.sleep(fault.latency_ms / 1000)
