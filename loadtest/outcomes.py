"""The orders a load test places and how each response is judged, without Locust (tests import it).

Each arrival is one scenario: `confirmed` (tok_visa, one unit of a SKU with plenty of stock),
`out_of_stock` (one more unit than the scarcest SKU ever had), `declined` (tok_chargeDeclined) or
`replayed` (an earlier request sent again with its Idempotency-Key and body). Its response is
classified into an outcome; anything but the scenario's own outcome is `unexpected`.
"""

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.settings import ROOT, ConfigError

DEFAULT_CATALOG = ROOT / "data" / "inventory-seed.json"
MAX_QUANTITY = 100  # api/openapi.yaml: items[].quantity maximum
PLENTY = 50  # a SKU with at least this much seed stock takes confirmed orders
# scenario -> (HTTP status, problem `code`) of its expected outcome; a replay expects its original's.
EXPECTED: dict[str, tuple[int, str | None]] = {
    "confirmed": (201, None),
    "out_of_stock": (409, "OUT_OF_STOCK"),
    "declined": (402, "PAYMENT_DECLINED"),
}
TOKENS = {"confirmed": "tok_visa", "out_of_stock": "tok_visa", "declined": "tok_chargeDeclined"}


@dataclass(frozen=True)
class Catalog:
    plenty: tuple[str, ...]  # SKUs for confirmed and declined orders
    scarce_sku: str  # the SKU with the least seed stock ...
    over_stock: int  # ... and a quantity above it: always out of stock, since stock only goes down

    @classmethod
    def load(cls, path: Path) -> "Catalog":
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
            stock = {str(item["sku"]): int(item["stock"]) for item in items}
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise ConfigError(f"--catalog {path}: not a list of {{sku, stock}} items ({error})") from error
        if not stock:
            raise ConfigError(f"--catalog {path}: no SKU")
        plenty = tuple(sorted(sku for sku, units in stock.items() if units >= PLENTY))
        if not plenty:
            raise ConfigError(f"--catalog {path}: no SKU has {PLENTY} or more units to confirm orders with")
        scarce = min(stock, key=lambda sku: stock[sku])
        if stock[scarce] + 1 > MAX_QUANTITY:
            raise ConfigError(f"--catalog {path}: every SKU has {MAX_QUANTITY} or more units: none can run out")
        return cls(plenty, scarce, stock[scarce] + 1)


@dataclass(frozen=True)
class Request:
    scenario: str
    idempotency_key: str
    body: dict[str, Any]


def new_request(scenario: str, catalog: Catalog, rng: random.Random) -> Request:
    """A first request of `scenario` (not `replayed`, which sends an earlier one again)."""
    if scenario == "out_of_stock":
        sku, quantity = catalog.scarce_sku, catalog.over_stock
    else:
        sku, quantity = rng.choice(catalog.plenty), 1
    body = {
        "customerId": f"load-{rng.randrange(1000):03d}",
        "items": [{"sku": sku, "quantity": quantity}],
        "payment": {"token": TOKENS[scenario]},
    }
    return Request(scenario, f"load-{uuid.uuid4()}", body)


@dataclass(frozen=True)
class Judged:
    outcome: str  # confirmed, out_of_stock, declined, replayed or unexpected
    problem: str | None  # why it is unexpected; None when the outcome is the expected one


def classify(status: int, body: Any) -> str:
    """The outcome a response shows, whatever was expected."""
    fields = body if isinstance(body, dict) else {}
    if status == 201 and fields.get("status") == "CONFIRMED":
        return "confirmed"
    for outcome, (expected_status, code) in EXPECTED.items():
        if code and status == expected_status and fields.get("code") == code:
            return outcome
    return "unexpected"


def judge(scenario: str, status: int, body: Any) -> Judged:
    """A first request's response against its scenario."""
    outcome = classify(status, body)
    if outcome == scenario:
        return Judged(outcome, None)
    expected_status, code = EXPECTED[scenario]
    return Judged(
        "unexpected",
        f"expected {scenario} ({expected_status}{' ' + code if code else ''}), got {_describe(status, body)}",
    )


def judge_replay(original_status: int, original_body: Any, status: int, body: Any) -> Judged:
    """A replay must answer exactly what the original answered: same status, same body."""
    if status != original_status:
        return Judged("unexpected", f"replay answered {_describe(status, body)}, the original {original_status}")
    if body != original_body:
        fields = _differing_fields(original_body, body)
        return Judged("unexpected", f"replay body differs from the original's in {', '.join(fields) or 'its type'}")
    return Judged("replayed", None)


def _describe(status: int, body: Any) -> str:
    fields = body if isinstance(body, dict) else {}
    detail = fields.get("code") or fields.get("status") or fields.get("message")
    return f"{status} {detail}" if detail else str(status) if status else "no response"


def _differing_fields(first: Any, second: Any) -> Sequence[str]:
    if not (isinstance(first, dict) and isinstance(second, dict)):
        return []
    return sorted(key for key in first.keys() | second.keys() if first.get(key) != second.get(key))
