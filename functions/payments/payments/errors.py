"""Payments' errors. Step Functions matches the class names (see docs/saga-steps.md)."""

from saga_common.errors import BusinessError, TechnicalError


class PaymentDeclined(BusinessError):
    """The provider refused the card. Retrying the same card gives the same answer."""


class PaymentProviderUnavailable(TechnicalError):
    """The provider could not answer (outage, processing error): technical, the saga retries it."""


class PaymentCancelled(BusinessError):
    """The order's payment was already refunded or cancelled by the saga's compensation: no new charge."""
