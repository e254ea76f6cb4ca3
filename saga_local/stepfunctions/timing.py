"""Local settings for time in state machines: Retry waits and TimeoutSeconds, scaled by environment variables.

Both are 1 (unchanged) by default. Tests shorten Retry waits (SAGA_LOCAL_RETRY_SCALE=0.01) so a path that
retries runs in milliseconds; a load test on a small machine gives Tasks more time (SAGA_LOCAL_TIMEOUT_SCALE),
because Lambda runs each invocation on its own machine and the local stack runs them all on this one. The
ASL (and its time budget, checked by tests/statemachine) is untouched. Never used on AWS.
"""

from collections.abc import Sequence
from typing import Any

from saga_local.core import config
from saga_local.core.patching import Change, Kind, Patch, Replace

RETRY_SCALE_ENV = config.variable("retry_scale")
TIMEOUT_SCALE_ENV = config.variable("timeout_scale")


# Read at each use (config.load()), so a test can set the variable with monkeypatch.setenv after the patch is in.
def retry_scale() -> float:
    """The factor every Retry wait is multiplied by: `SAGA_LOCAL_RETRY_SCALE`, 1 when unset."""
    return config.load().retry_scale


def timeout_scale() -> float:
    """The factor every TimeoutSeconds is multiplied by: `SAGA_LOCAL_TIMEOUT_SCALE`, 1 when unset."""
    return config.load().timeout_scale


class _ScaledClock:
    """Stands in for the `time` module inside moto's retrier, whose only use of it is `time.sleep(interval)`
    once IntervalSeconds, BackoffRate, MaxDelaySeconds and jitter are applied."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def sleep(self, seconds: float) -> None:
        self._real.sleep(seconds * retry_scale())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _retry_changes() -> Sequence[Change]:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    return [Replace(retrier_decl, "time", _ScaledClock(retrier_decl.time))]


def _timeout_changes() -> Sequence[Change]:
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    unscaled = TimeoutSeconds._eval_seconds

    def _eval_seconds(self: Any, env: Any) -> float:
        seconds = unscaled(self, env)
        return seconds if self.is_default_value() else seconds * timeout_scale()

    return [Replace(TimeoutSeconds, "_eval_seconds", _eval_seconds)]


SCALE_RETRY_WAITS = Patch(
    name="sfn-retry-scale",
    kind=Kind.SETTING,
    replaces="moto.stepfunctions.parser.asl.component.common.retry.retrier_decl.time: Retry waits really sleep",
    because=f"{RETRY_SCALE_ENV} (default 1) shortens waits in tests without editing the ASL",
    changes=_retry_changes,
)
SCALE_TIMEOUTS = Patch(
    name="sfn-timeout-scale",
    kind=Kind.SETTING,
    replaces="moto.stepfunctions.parser.asl.component.common.timeouts.timeout.TimeoutSeconds._eval_seconds: "
    "the ASL's TimeoutSeconds as written",
    because=f"{TIMEOUT_SCALE_ENV} (default 1) gives Tasks more time when every function shares one machine",
    changes=_timeout_changes,
)
