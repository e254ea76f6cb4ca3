"""The chaos run's invariant checker (reliability/invariants.py) on data built by hand: a consistent world passes,
and each way of breaking it is reported, with the order it concerns."""

import copy
import json
from typing import Any

import pytest

from reliability.invariants import Event, Request, Snapshot, Violation, check, order_id_for

KEY_OK, KEY_CANCELLED = "key-confirmed-0001", "key-declined-0002"
OK, CANCELLED = order_id_for(KEY_OK), order_id_for(KEY_CANCELLED)
TOTAL = 2 * 1299


def _view(order_id: str, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "orderId": order_id, "status": status, "customerId": "c-1",
        "items": [{"sku": "SKU-A", "quantity": 2, "name": "A", "unitPrice": 1299, "lineTotal": TOTAL}],
        "total": TOTAL, "currency": "USD", "paymentId": None, "invoiceId": None, "failureReason": None,
        "failedCompensations": [], "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:01.000Z",
        **fields,
    }  # fmt: skip


def _order_item(view: dict[str, Any]) -> dict[str, Any]:
    return {"orderId": view["orderId"], "status": view["status"], "document": json.dumps(view)}


def _event(view: dict[str, Any], kind: str) -> Event:
    return Event(f"{view['orderId']}:{view['status']}", view["orderId"], {"type": kind, "orderId": view["orderId"],
                                                                           "data": view})  # fmt: skip


def _sale(order_id: str, kind: str = "SALE") -> dict[str, Any]:
    debit, credit = (TOTAL, 0) if kind == "SALE" else (0, TOTAL)
    postings = [{"account": "cash", "debit": debit, "credit": credit},
                {"account": "revenue", "debit": credit, "credit": debit}]  # fmt: skip
    return {"pk": f"ORDER#{order_id}", "sk": f"LEDGER#{kind}", "orderId": order_id, "kind": kind, "postings": postings}


def consistent() -> Snapshot:
    """One order confirmed (SKU-A x2), one declined and cancelled (its stock released): everything agrees."""
    placed_ok = _view(OK, "PENDING")
    confirmed = _view(OK, "CONFIRMED", paymentId="pay_1", invoiceId="inv_1", updatedAt="2026-01-01T00:00:02.000Z")
    placed_cancelled = _view(CANCELLED, "PENDING")
    cancelled = _view(CANCELLED, "CANCELLED", failureReason={"code": "PAYMENT_DECLINED", "detail": "declined"})
    declined = {"type": "about:blank", "title": "Payment declined", "status": 402, "code": "PAYMENT_DECLINED",
                "orderId": CANCELLED, "detail": "declined"}  # fmt: skip
    body = {"customerId": "c-1", "items": [{"sku": "SKU-A", "quantity": 2}], "payment": {"token": "tok_visa"}}
    return Snapshot(
        initial_stock={"SKU-A": 10},
        orders=[_order_item(confirmed), _order_item(cancelled)],
        inventory=[
            {"pk": "SKU#SKU-A", "sku": "SKU-A", "available": 8, "reserved": 2},
            {
                "pk": f"RESERVATION#{OK}",
                "orderId": OK,
                "status": "RESERVED",
                "items": [{"sku": "SKU-A", "quantity": 2}],
            },
            {
                "pk": f"RESERVATION#{CANCELLED}",
                "orderId": CANCELLED,
                "status": "RELEASED",
                "items": [{"sku": "SKU-A", "quantity": 2}],
            },
        ],
        payments=[
            {"pk": f"PAYMENT#{OK}", "orderId": OK, "paymentId": "pay_1", "status": "CAPTURED", "amount": TOTAL},
            {"pk": "SIMULATOR#CHARGE#ch_1", "idempotencyKey": OK, "status": "CAPTURED", "amount": TOTAL},
            {"pk": f"PAYMENT#{CANCELLED}", "orderId": CANCELLED, "status": "DECLINED", "amount": TOTAL},
        ],
        billing=[
            {
                "pk": f"ORDER#{OK}",
                "sk": "INVOICE",
                "orderId": OK,
                "invoiceId": "inv_1",
                "status": "ISSUED",
                "total": TOTAL,
            },
            _sale(OK),
        ],
        events=[
            _event(placed_ok, "order.placed"),
            _event(placed_cancelled, "order.placed"),
            _event(confirmed, "order.confirmed"),
            _event(cancelled, "order.cancelled"),
        ],
        requests=[
            Request(KEY_OK, body, 201, confirmed),
            Request(KEY_CANCELLED, body, 402, declined),
            Request(KEY_CANCELLED, body, 402, declined, "replay"),
        ],
    )


def kinds(violations: list[Violation]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for violation in violations:
        found.setdefault(violation.kind, set()).update(violation.order_ids)
    return found


def test_a_consistent_world_has_no_violation() -> None:
    violations, summary = check(consistent())
    assert violations == []
    assert summary["outcomes"] == {"CANCELLED PAYMENT_DECLINED": 1, "CONFIRMED": 1}


def _item(items: list[dict[str, Any]], pk: str) -> dict[str, Any]:
    return next(item for item in items if item["pk"] == pk)


def test_an_oversold_sku_is_reported() -> None:
    world = consistent()
    _item(world.inventory, "SKU#SKU-A").update(available=-1, reserved=11)
    found = kinds(check(world)[0])
    assert OK in found["oversell"]
    assert "stock_not_conserved" in found


def test_stock_that_vanished_is_reported_even_without_oversell() -> None:
    world = consistent()
    _item(world.inventory, "SKU#SKU-A")["available"] = 6  # the cancelled order's 2 units never came back
    assert "stock_not_conserved" in kinds(check(world)[0])


def test_a_double_charge_is_reported() -> None:
    world = consistent()
    world.payments.append({"pk": "SIMULATOR#CHARGE#ch_2", "idempotencyKey": OK, "status": "CAPTURED", "amount": TOTAL})
    found = kinds(check(world)[0])
    assert found["double_charge"] == {OK}


def test_a_cancelled_order_still_charged_and_holding_stock_is_reported() -> None:
    world = consistent()
    world.payments.append({"pk": "SIMULATOR#CHARGE#ch_3", "idempotencyKey": CANCELLED, "status": "CAPTURED",
                           "amount": TOTAL})  # fmt: skip
    _item(world.inventory, f"RESERVATION#{CANCELLED}")["status"] = "RESERVED"
    violations = [v for v in check(world)[0] if v.kind == "not_undone"]
    assert {v.order_ids for v in violations} == {(CANCELLED,)}
    assert len(violations) == 2  # the charge, the stock


def test_a_confirmed_order_without_its_invoice_or_with_an_unbalanced_ledger_is_reported() -> None:
    world = consistent()
    world.billing = [item for item in world.billing if item["sk"] != "INVOICE"]
    world.billing[0]["postings"][0]["debit"] = TOTAL + 1
    details = [v.detail for v in check(world)[0] if v.kind == "confirmed_incomplete"]
    assert any(detail.startswith("invoice") for detail in details)
    assert any(detail.startswith("sale entry") for detail in details)


def test_the_fence_a_void_leaves_on_the_sale_key_is_not_a_sale() -> None:
    """A void that found no sale takes the sale's key, so a late one cannot be posted: billing undone."""
    world = consistent()
    world.billing += [
        {"pk": f"ORDER#{CANCELLED}", "sk": "INVOICE", "orderId": CANCELLED, "status": "VOID"},
        {"pk": f"ORDER#{CANCELLED}", "sk": "LEDGER#SALE", "orderId": CANCELLED, "fence": True},
    ]
    assert check(world)[0] == []
    world.billing[-1] = _sale(CANCELLED)  # a real sale, never reversed
    assert kinds(check(world)[0])["not_undone"] == {CANCELLED}


def test_an_order_left_pending_is_reported() -> None:
    world = consistent()
    world.orders[1] = _order_item(_view(CANCELLED, "PENDING"))
    world.events = [e for e in world.events if e.body["type"] != "order.cancelled"]
    found = kinds(check(world)[0])
    assert found["saga_not_terminal"] == {CANCELLED}
    assert CANCELLED in found["wrong_status"]  # its 402 maps to no final state


def test_a_duplicated_event_is_reported_after_deduplication() -> None:
    """The same state change published twice under two deduplication ids: a consumer would see it twice."""
    world = consistent()
    twice = copy.deepcopy(world.events[2])
    twice.deduplication_id = f"{OK}:CONFIRMED:again"
    world.events.append(twice)
    found = kinds(check(world)[0])
    assert OK in found["event_unexpected"]
    assert OK in found["event_inconsistent"]


def test_a_redelivered_event_with_the_same_deduplication_id_is_no_violation() -> None:
    world = consistent()
    world.events.append(copy.deepcopy(world.events[2]))
    violations, summary = check(world)
    assert violations == []
    assert summary["events"] == {"received": 5, "afterDeduplication": 4}


@pytest.mark.parametrize(("change", "kind"), [("drop", "event_missing"), ("swap", "event_out_of_order")])
def test_a_lost_or_reordered_event_is_reported(change: str, kind: str) -> None:
    world = consistent()
    placed, confirmed = world.events[0], world.events[2]
    world.events.remove(placed)
    if change == "swap":
        world.events.insert(world.events.index(confirmed) + 1, placed)
    assert kinds(check(world)[0])[kind] == {OK}


def test_a_wrong_status_and_a_replay_that_differs_are_reported() -> None:
    world = consistent()
    world.requests[0].status = 409
    world.requests[2].response = {**world.requests[2].response, "detail": "something else"}
    found = kinds(check(world)[0])
    assert found["wrong_status"] == {OK}
    assert found["replay_mismatch"] == {CANCELLED}


def test_a_dlq_record_not_made_poison_on_purpose_is_reported() -> None:
    world = consistent()
    world.poison_sequence_numbers = {"100"}
    poison = {"DDBStreamBatchInfo": {"startSequenceNumber": "100", "endSequenceNumber": "100", "batchSize": 1}}
    lost = {"DDBStreamBatchInfo": {"startSequenceNumber": "100", "endSequenceNumber": "140", "batchSize": 9}}
    world.relay_dlq = [poison]
    assert check(world)[0] == []
    world.relay_dlq = [poison, lost]
    assert "dlq_not_poison" in kinds(check(world)[0])
