"""Billing's errors. Step Functions matches the class names (see docs/saga-steps.md)."""

from saga_common.errors import BusinessError


class InvoiceVoided(BusinessError):
    """The order's billing was already voided by the saga's compensation: nothing is issued or posted."""
