"""The payments function's settings: PaymentsFunction's Environment in template.yaml, read once
(saga_common.settings); its steps are idempotent, so it reads the idempotency settings too."""

from dataclasses import dataclass

from saga_common.idempotency import IdempotencySettings
from saga_common.settings import load


@dataclass(frozen=True)
class PaymentsSettings(IdempotencySettings):
    payments_table: str  # the payments, and the simulator's state
    payment_provider: str  # the adapter of payments.provider: "simulator"


def settings() -> PaymentsSettings:
    return load(PaymentsSettings)
