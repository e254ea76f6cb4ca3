"""The payment provider port, and the adapter PAYMENT_PROVIDER names.

A card token reaches the provider and nowhere else: it is never stored, logged, nor put in an
exception message.
"""

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from saga_common.errors import ConfigurationError

from payments.settings import settings


@dataclass(frozen=True)
class Charge:
    """A charge as the provider knows it."""

    charge_id: str
    amount: int  # minor units


class PaymentProvider(Protocol):
    def charge(self, idempotency_key: str, token: str, amount: int, currency: str) -> str:
        """Capture `amount` (minor units) from the card behind `token`; return the provider's charge id.

        The same `idempotency_key` never charges twice: a repeat returns the first charge's id.
        Raises PaymentDeclined when the card is refused, PaymentProviderUnavailable when the provider
        cannot answer now.
        """
        ...

    def refund(self, charge_id: str, amount: int) -> None:
        """Give `amount` of the charge back. Refunding an already refunded charge changes nothing."""
        ...

    def find_charge(self, idempotency_key: str) -> Charge | None:
        """The charge made under `idempotency_key`, refunded or not; None when there is none.

        For a caller that lost the charge's answer (its invocation died between the provider and its own
        write): providers offer this as a lookup by the merchant's reference (or a cancel by reference)."""
        ...


def payment_provider() -> PaymentProvider:
    """The provider the setting PAYMENT_PROVIDER names."""
    return _provider(settings().payment_provider)


@cache
def _provider(name: str) -> PaymentProvider:
    if name == "simulator":
        from payments.simulator import SimulatedProvider

        return SimulatedProvider()
    raise ConfigurationError(f"PAYMENT_PROVIDER must be 'simulator', got {name!r}")
