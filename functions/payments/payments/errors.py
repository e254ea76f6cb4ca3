"""Payments' errors. Step Functions matches the class names (see docs/saga-steps.md)."""

from saga_common.errors import BusinessError


class PaymentDeclined(BusinessError):  # noqa: N818 - Step Functions matches this name
    """The provider refused the card. Retrying the same card gives the same answer."""


class PaymentProviderUnavailable(Exception):  # noqa: N818 - Step Functions matches this name
    """The provider could not answer (outage, processing error): technical, the saga retries it."""


class PaymentCancelled(BusinessError):  # noqa: N818 - Step Functions matches this name
    """The order's payment was already refunded or cancelled by the saga's compensation: no new charge."""
