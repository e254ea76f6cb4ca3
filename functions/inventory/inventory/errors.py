"""Inventory's errors. Step Functions matches the class names of the BusinessErrors (see docs/saga-steps.md);
the repository's own signals below never leave the service.
"""

from typing import TYPE_CHECKING

from saga_common.errors import BusinessError

if TYPE_CHECKING:
    from inventory.model import Reservation


class UnknownSku(BusinessError):
    """A requested SKU is not in the catalog."""


class InvalidOrder(BusinessError):
    """The order cannot be priced as one order (its SKUs are priced in different currencies, ...)."""


class OutOfStock(BusinessError):
    """Some line asks for more than is available; nothing was reserved."""


class ReservationReleased(BusinessError):
    """This order's stock was already released (the saga compensated it): it is never reserved again."""


# ---------------------------------------------------------------- the repository's answers to the service
class ReservationExists(Exception):
    """The order already has a reservation (a replay, or the fence of an earlier release)."""

    def __init__(self, reservation: "Reservation") -> None:
        super().__init__(reservation.order_id)
        self.reservation = reservation


class InsufficientStock(Exception):
    """Some SKUs had fewer units available than asked: `available` maps each to what it had."""

    def __init__(self, available: dict[str, int]) -> None:
        super().__init__(", ".join(available))
        self.available = available
