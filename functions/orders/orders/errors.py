"""The orders service's answers of "no". Step Functions matches the class names (see docs/saga-steps.md)."""

from saga_common.errors import BusinessError


class InvalidOrder(BusinessError):
    """The request cannot become an order; the message names the field (`items[1].sku: ...`)."""


class IdempotencyKeyReused(BusinessError):
    """The Idempotency-Key already created an order from another request body."""


class OrderNotPending(BusinessError):
    """The order already left PENDING another way (cancelled), so it cannot be confirmed."""
