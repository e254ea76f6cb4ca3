"""The billing function's settings: BillingFunction's Environment in template.yaml, read once (saga_common.settings)."""

from dataclasses import dataclass

from saga_common.settings import FunctionSettings, load


@dataclass(frozen=True)
class BillingSettings(FunctionSettings):
    billing_table: str  # one invoice per order, its ledger entries inside


def settings() -> BillingSettings:
    return load(BillingSettings)
