"""The inventory function's settings: InventoryFunction's Environment in template.yaml, read once
(saga_common.settings)."""

from dataclasses import dataclass

from saga_common.settings import FunctionSettings, load


@dataclass(frozen=True)
class InventorySettings(FunctionSettings):
    inventory_table: str  # the catalog and the reservations


def settings() -> InventorySettings:
    return load(InventorySettings)
