"""Inventory's answers of "no". Step Functions matches the class names (see docs/saga-steps.md)."""

from saga_common.errors import BusinessError


class UnknownSku(BusinessError):
    """A requested SKU is not in the catalog."""


class InvalidOrder(BusinessError):
    """The order cannot be priced as one order (its SKUs are priced in different currencies, ...)."""


class OutOfStock(BusinessError):
    """Some line asks for more than is available; nothing was reserved."""


class ReservationReleased(BusinessError):
    """This order's stock was already released (the saga compensated it): it is never reserved again."""
