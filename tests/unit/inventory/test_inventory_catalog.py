"""Seeding the catalog (data/inventory-seed.json) and reading it back as the reserve step does."""

import json
from pathlib import Path
from typing import Any

import pytest
from inventory import repository, service

from tests.support.aws import LocalAws

SEED_FILE = Path(__file__).parents[3] / "data" / "inventory-seed.json"


def test_the_seed_file_is_a_valid_usd_catalog_with_a_low_stock_sku(aws: LocalAws) -> None:
    seed = json.loads(SEED_FILE.read_text(encoding="utf-8"))

    assert service.seed_catalog(seed) == len(seed)

    catalog = repository.get_catalog(item["sku"] for item in seed)
    assert 6 <= len(catalog) <= 8
    assert {"SKU-1", "SKU-2", "SKU-3"} <= catalog.keys()
    assert {item.currency for item in catalog.values()} == {"USD"}
    assert min(item.available for item in catalog.values()) <= 2  # one SKU to run out of
    one = catalog["SKU-1"]
    assert isinstance(one.unit_price, int)  # not Decimal: ints from the repository on
    assert (one.unit_price, one.available, one.reserved) == (seed[0]["unitPrice"], seed[0]["stock"], 0)


def test_seeding_again_updates_prices_but_keeps_the_stock_orders_moved(aws: LocalAws, lambda_context: Any) -> None:
    from inventory import handler

    item = {"sku": "SKU-1", "name": "Beans", "unitPrice": 1000, "currency": "USD", "stock": 10}
    service.seed_catalog([item])
    handler.lambda_handler(
        {
            "action": "ReserveInventory",
            "orderId": "ord_00000000000000000000000009",
            "items": [{"sku": "SKU-1", "quantity": 4}],
        },
        lambda_context,
    )

    service.seed_catalog([{**item, "name": "Beans, 1 kg", "unitPrice": 1200}])

    stored = repository.get_catalog(["SKU-1"])["SKU-1"]
    assert (stored.name, stored.unit_price, stored.available, stored.reserved) == ("Beans, 1 kg", 1200, 6, 4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"unitPrice": 19.99}, "catalog item 1: unitPrice must be of type int"),
        ({"unitPrice": 0}, "catalog item 1: unitPrice must be a positive integer"),
        ({"stock": -1}, "catalog item 1: stock must not be negative"),
        ({"currency": "usd"}, "catalog item 1: currency must be an ISO 4217 code"),
        ({"sku": ""}, "catalog item 1: sku must not be empty"),
    ],
)
def test_an_invalid_catalog_is_refused_before_anything_is_written(
    aws: LocalAws, change: dict[str, Any], message: str
) -> None:
    good = {"sku": "SKU-1", "name": "Beans", "unitPrice": 1000, "currency": "USD", "stock": 10}

    with pytest.raises(ValueError, match=message):
        service.seed_catalog([good, {**good, "sku": "SKU-2", **change}])

    assert repository.get_catalog(["SKU-1", "SKU-2"]) == {}


def test_a_sku_listed_twice_is_refused(aws: LocalAws) -> None:
    item = {"sku": "SKU-1", "name": "Beans", "unitPrice": 1000, "currency": "USD", "stock": 10}
    with pytest.raises(ValueError, match="twice"):
        service.seed_catalog([item, item])
