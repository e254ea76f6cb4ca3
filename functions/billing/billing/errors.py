"""Billing's errors. Step Functions matches the class names (see docs/saga-steps.md)."""

from typing import TYPE_CHECKING

from saga_common.errors import BusinessError

if TYPE_CHECKING:
    from billing.model import Invoice


class InvoiceVoided(BusinessError):
    """The order's billing was already voided by the saga's compensation: nothing is issued or posted."""


# ---------------------------------------------------------------- the repository's answer to the service
class BillingChanged(Exception):
    """A void's conditional write found the order's invoice no longer as it was read: nothing was written.
    `found` is what is there now (from the failed write's ALL_OLD), None if nothing."""

    def __init__(self, found: "Invoice | None") -> None:
        super().__init__(found.order_id if found else "the invoice is gone")
        self.found = found


class UnbalancedEntryError(ValueError):
    """Debits and credits differ: the ledger would no longer balance. Always a bug."""
