"""The recovery sweep's settings: RecoverySweepFunction's Environment in template.yaml, read once
(saga_common.settings)."""

from dataclasses import dataclass

from saga_common.settings import FunctionSettings, load

from recovery_sweep.model import SweepPolicy


@dataclass(frozen=True)
class RecoverySweepSettings(FunctionSettings):
    orders_table: str
    sweep_index: str  # the orders table's index of unfinished and failed orders
    state_machine_arn: str  # the saga the sweep starts again
    stuck_after_seconds: int  # longer than the saga's worst case: an order older than this has no live execution
    retry_limit: int  # executions the sweep starts for one order before it flags it
    retry_backoff_seconds: int  # the wait before attempt n is backoff * 2^(n-1), on top of stuck_after
    sweep_batch: int  # orders one run takes at most (the next minute's run takes the rest)

    @property
    def policy(self) -> SweepPolicy:
        return SweepPolicy(
            stuck_after_seconds=self.stuck_after_seconds,
            retry_limit=self.retry_limit,
            backoff_seconds=self.retry_backoff_seconds,
        )


def settings() -> RecoverySweepSettings:
    return load(RecoverySweepSettings)
