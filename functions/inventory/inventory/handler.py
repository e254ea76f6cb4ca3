"""Lambda entry point of the inventory service: the table of its saga steps, named after their Task states."""

from saga_common.handler import Step, saga_step_handler

from inventory import service
from inventory.errors import InvalidOrder, OutOfStock, ReservationReleased, UnknownSku
from inventory.settings import InventorySettings

STEPS = {
    "ReserveInventory": Step(service.reserve_inventory, (OutOfStock, UnknownSku, InvalidOrder, ReservationReleased)),
    "ReleaseInventory": Step(service.release_inventory),
}

lambda_handler = saga_step_handler(STEPS, InventorySettings)
