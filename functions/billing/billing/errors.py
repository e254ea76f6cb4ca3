"""Billing's errors. Step Functions matches the class names (see docs/saga-steps.md)."""

from saga_common.errors import BusinessError


class InvoiceVoided(BusinessError):
    """The order's billing was already voided by the saga's compensation: nothing is issued or posted."""


# ---------------------------------------------------------------- the repository's answer to the service
class BillingVoided(Exception):
    """The order's invoice is VOID: nothing more is written for it (the service answers InvoiceVoided)."""
