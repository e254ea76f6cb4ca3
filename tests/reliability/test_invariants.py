"""The chaos run's invariant checker (reliability/invariants.py) on data built by hand: a consistent world passes,
and each way of breaking it is reported, with the order it concerns."""

import copy
import json
from typing import Any

import pytest

from reliability.invariants import DeadLetter, Event, Request, Snapshot, StreamRecord, Violation, check, key_record_id

KEY_OK, KEY_CANCELLED = "key-confirmed-0001", "key-declined-0002"
OK, CANCELLED = "ord_3f1c0a", "ord_9b27e4"  # random ids: found through the key records, never from the keys
CALLER, OTHER = "arn:aws:iam::123456789012:user/storefront", "arn:aws:iam::123456789012:user/back-office"
TOTAL = 2 * 1299


def _view(order_id: str, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "orderId": order_id, "status": status, "customerId": "c-1",
        "items": [{"sku": "SKU-A", "quantity": 2, "name": "A", "unitPrice": 1299, "lineTotal": TOTAL}],
        "total": TOTAL, "currency": "USD", "paymentId": None, "invoiceId": None, "failureReason": None,
        "failedCompensations": [], "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:01.000Z",
        **fields,
    }  # fmt: skip


def _order_item(view: dict[str, Any], caller: str = CALLER) -> dict[str, Any]:
    return {"orderId": view["orderId"], "caller": caller, "status": view["status"], "document": json.dumps(view)}


def _key_record(key: str, order_id: str, caller: str = CALLER) -> dict[str, Any]:
    """The Idempotency-Key record beside the orders (ClaimIdempotencyKey): the caller's key names its order."""
    return {"orderId": key_record_id(caller, key), "targetOrderId": order_id, "caller": caller,
            "requestHash": "h", "createdAt": "2026-01-01T00:00:00.000Z"}  # fmt: skip


def _event(view: dict[str, Any], kind: str) -> Event:
    return Event(f"{view['orderId']}:{view['status']}", view["orderId"], {"type": kind, "orderId": view["orderId"],
                                                                           "data": view})  # fmt: skip


def _sale(order_id: str, kind: str = "SALE") -> dict[str, Any]:
    """A ledger entry as its invoice's item carries it (`sale`, `reversal`)."""
    debit, credit = (TOTAL, 0) if kind == "SALE" else (0, TOTAL)
    postings = [{"account": "cash", "debit": debit, "credit": credit},
                {"account": "revenue", "debit": credit, "credit": debit}]  # fmt: skip
    return {"orderId": order_id, "kind": kind, "postings": postings}


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
        orders=[
            _order_item(confirmed),
            _order_item(cancelled),
            _key_record(KEY_OK, OK),
            _key_record(KEY_CANCELLED, CANCELLED),
        ],
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
                "sale": _sale(OK),
            },
        ],
        events=[
            _event(placed_ok, "order.placed"),
            _event(placed_cancelled, "order.placed"),
            _event(confirmed, "order.confirmed"),
            _event(cancelled, "order.cancelled"),
        ],
        requests=[
            Request(KEY_OK, body, 201, confirmed, caller=CALLER),
            Request(KEY_CANCELLED, body, 402, declined, caller=CALLER),
            Request(KEY_CANCELLED, body, 402, declined, "replay", caller=CALLER),
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


def test_a_confirmed_order_with_a_wrong_invoice_or_an_unbalanced_ledger_is_reported() -> None:
    world = consistent()
    world.billing[0]["total"] = TOTAL + 1
    world.billing[0]["sale"]["postings"][0]["debit"] = TOTAL + 1
    details = [v.detail for v in check(world)[0] if v.kind == "confirmed_incomplete"]
    assert any(detail.startswith("invoice") for detail in details)
    assert any(detail.startswith("sale entry") for detail in details)


def test_a_confirmed_order_never_billed_is_reported() -> None:
    world = consistent()
    world.billing = []
    details = [v.detail for v in check(world)[0] if v.kind == "confirmed_incomplete"]
    assert any(detail.startswith("invoice") for detail in details)
    assert any(detail.startswith("sale entry") for detail in details)


def test_the_fence_a_void_leaves_is_not_a_sale_and_a_sale_must_be_reversed() -> None:
    """A void that found nothing billed takes the order's billing key, so a late bill cannot be posted: undone."""
    world = consistent()
    world.billing.append({"pk": f"ORDER#{CANCELLED}", "sk": "INVOICE", "orderId": CANCELLED, "status": "VOID"})
    assert check(world)[0] == []
    world.billing[-1]["sale"] = _sale(CANCELLED)  # a real sale, never reversed
    assert kinds(check(world)[0])["not_undone"] == {CANCELLED}
    world.billing[-1]["reversal"] = _sale(CANCELLED, "REVERSAL")
    assert check(world)[0] == []


def test_an_order_left_pending_is_reported() -> None:
    world = consistent()
    world.orders[1] = _order_item(_view(CANCELLED, "PENDING"))
    world.events = [e for e in world.events if e.body["type"] != "order.cancelled"]
    found = kinds(check(world)[0])
    assert found["saga_not_terminal"] == {CANCELLED}
    assert CANCELLED in found["wrong_status"]  # its 402 maps to no final state


def test_an_order_left_unfinished_after_the_sweep_window_is_reported() -> None:
    """A stuck order (its execution stopped, the sweep has not finished it) and one the sweep gave up on."""
    world = consistent()
    world.orders[1] = {**_order_item(_view(CANCELLED, "PENDING")), "sweep": "OPEN", "sweepAt": "2026-01-01T00:00:00Z"}
    world.orders[0] = {**world.orders[0], "sweep": "FLAGGED", "recoveryAttempts": 5}
    found = kinds(check(world)[0])
    assert found["order_unfinished"] == {CANCELLED, OK}


def test_a_halted_execution_answer_is_not_taken_for_the_outcome() -> None:
    """An execution stopped dead answers 500 INTERNAL_ERROR; the sweep then finishes the order: no violation."""
    world = consistent()
    original = next(r for r in world.requests if r.key == KEY_OK)
    world.requests.insert(0, Request(original.key, original.body, 500, {"code": "INTERNAL_ERROR"}, "original", CALLER))
    assert check(world)[0] == []


@pytest.mark.parametrize("names_the_order", [False, True])
def test_a_retry_me_503_is_no_outcome_but_a_compensated_one_is(names_the_order: bool) -> None:
    """OrderUnavailable's 503 names no order ("retry with the same Idempotency-Key"), even when StoreClaimedOrder has
    just stored it; the retry or the sweep finishes the order. A 503 naming the order is its outcome: it must match."""
    world = consistent()
    original = next(r for r in world.requests if r.key == KEY_OK)
    problem = {"code": "SERVICE_UNAVAILABLE", "detail": "retry", **({"orderId": OK} if names_the_order else {})}
    world.requests.insert(0, Request(original.key, original.body, 503, problem, "original", CALLER))

    found = kinds(check(world)[0])

    assert found == ({"wrong_status": {OK}} if names_the_order else {})


@pytest.mark.parametrize("retried_by_the_sweep", [True, False])
def test_a_compensation_failure_the_sweep_undid_later_is_no_violation(retried_by_the_sweep: bool) -> None:
    """Answered 500 COMPENSATION_FAILED, its event published, then the sweep's retry cancelled it: each was true when
    said. Without the sweep's mark (recoveryAttempts) the same history is reported."""
    world = consistent()
    failed = _view(CANCELLED, "COMPENSATION_FAILED", failureReason={"code": "PAYMENT_DECLINED", "detail": "declined"})
    cancelled_event = next(
        e for e in world.events if e.body == {**e.body, "orderId": CANCELLED, "type": "order.cancelled"}
    )
    world.events.insert(world.events.index(cancelled_event), _event(failed, "order.compensation_failed"))
    if retried_by_the_sweep:
        world.orders[1] = {**world.orders[1], "recoveryAttempts": 1}
    original = next(r for r in world.requests if r.key == KEY_CANCELLED)
    world.requests.insert(
        0, Request(original.key, original.body, 500, {"code": "COMPENSATION_FAILED"}, "original", CALLER)
    )

    found = kinds(check(world)[0])

    if retried_by_the_sweep:
        assert found == {}
    else:
        assert CANCELLED in found["event_unexpected"]
        assert CANCELLED in found["wrong_status"]


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


# ---------------------------------------------------------------- callers and their orders


def test_requests_find_their_orders_through_their_callers_key_records() -> None:
    """A request names no order id: its caller's key record does. Without a caller, the only caller recorded."""
    world = consistent()
    assert check(world)[0] == []
    for request in world.requests:
        request.caller = None
    assert check(world)[0] == []


def test_the_same_key_from_another_caller_is_another_order() -> None:
    world = consistent()
    theirs = _view("ord_5d0e71", "CANCELLED", failureReason={"code": "OUT_OF_STOCK", "detail": "none left"})
    world.orders += [_order_item(theirs, OTHER), _key_record(KEY_OK, theirs["orderId"], OTHER)]
    world.events += [_event(_view(theirs["orderId"], "PENDING"), "order.placed"), _event(theirs, "order.cancelled")]
    out_of_stock = {"status": 409, "code": "OUT_OF_STOCK", "orderId": theirs["orderId"]}
    world.requests.append(Request(KEY_OK, {}, 409, out_of_stock, caller=OTHER))
    assert check(world)[0] == []


def test_a_caller_answered_another_callers_order_is_reported() -> None:
    """Caller B sends A's Idempotency-Key: B's key record names nothing of A's, so A's order as B's answer is wrong."""
    world = consistent()
    world.requests.append(Request(KEY_OK, world.requests[0].body, 201, world.requests[0].response, caller=OTHER))
    assert "wrong_status" in kinds(check(world)[0])


@pytest.mark.parametrize("change", ["record of another caller", "second record", "no record"])
def test_an_order_its_callers_key_record_does_not_name_is_reported(change: str) -> None:
    world = consistent()
    record = next(item for item in world.orders if item.get("targetOrderId") == OK)
    if change == "record of another caller":
        record.update(orderId=key_record_id(OTHER, KEY_OK), caller=OTHER)
    elif change == "second record":
        world.orders.append(_key_record("someone-elses-key", OK, OTHER))
    else:
        world.orders.remove(record)
    found = kinds(check(world)[0])
    assert found["order_not_owned"] == {OK}
    if change != "second record":
        assert OK in found["order_not_requested"]  # no request of its caller finds it


# ---------------------------------------------------------------- DLQs
# The orders stream of the consistent world, plus one record made poison on purpose (sequence number 300).
POISON_NUMBER = "300"
STREAM = [
    StreamRecord("100", OK, "INSERT", "PENDING"),
    StreamRecord("105", key_record_id(CALLER, KEY_CANCELLED), "INSERT", None),  # a key record: no event
    StreamRecord("110", CANCELLED, "INSERT", "PENDING"),
    StreamRecord("120", OK, "MODIFY", "PENDING", "PENDING"),  # a write that changed no status: no event
    StreamRecord("130", OK, "MODIFY", "CONFIRMED", "PENDING"),
    StreamRecord("140", CANCELLED, "MODIFY", "CANCELLED", "PENDING"),
    StreamRecord(POISON_NUMBER, "ord_poison-1", "INSERT", "PENDING"),
]


def _with_stream(world: Snapshot) -> Snapshot:
    world.stream = list(STREAM)
    world.poison_sequence_numbers, world.poison_order_ids = {POISON_NUMBER}, {"ord_poison-1"}
    return world


def _dead_lettered_by_relay(number: str, order_id: str) -> DeadLetter:
    """What the relay sends for a record it cannot make an event of (outbox_relay.publisher.SqsDeadLetters)."""
    record = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": number, "Keys": {"orderId": {"S": order_id}}}}
    return DeadLetter({"reason": f"stream record {number}: new image has no JSON document", "record": record},
                      {"ApproximateReceiveCount": "1"})  # fmt: skip


def _given_up_by_mapping(first: str, last: str, size: int, invocations: int = 6) -> DeadLetter:
    """The mapping's on-failure record (saga_local.awslambda.streams, as Lambda documents it): names the batch."""
    return DeadLetter({
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": invocations},
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "DDBStreamBatchInfo": {"startSequenceNumber": first, "endSequenceNumber": last, "batchSize": size},
    })  # fmt: skip


def test_the_poison_record_dead_lettered_twice_is_explained_not_a_violation() -> None:
    """The chaos CI failure (dlq.relay 2, poisonOnPurpose 1): the relay's batch holding the poison record was
    delivered twice (or crashed after dead-lettering and was retried), so the record was dead-lettered twice."""
    world = _with_stream(consistent())
    world.relay_dlq = [
        _dead_lettered_by_relay(POISON_NUMBER, "ord_poison-1"),
        _dead_lettered_by_relay(POISON_NUMBER, "ord_poison-1"),
    ]
    violations, summary = check(world)
    assert violations == []
    assert summary["dlq"] == {"relay": 2, "audit": 0, "poisonOnPurpose": 1, "poisonDeadLettered": 1,
                              "realRecordsDeadLettered": 0, "eventsLost": 0}  # fmt: skip
    first, second = summary["deadLetters"]
    assert (first["sentBy"], first["copy"], first["copies"]) == ("relay", 1, 2)
    assert first["explanation"] == "made poison on purpose"
    assert first["reason"] == "stream record 300: new image has no JSON document"
    assert first["records"] == [{"sequenceNumber": POISON_NUMBER, "poison": True, "inStream": True,
                                 "orderId": "ord_poison-1", "eventName": "INSERT", "status": "PENDING",
                                 "event": "ord_poison-1:PENDING", "eventPublished": None}]  # fmt: skip
    assert "copy 2 of 2" in second["explanation"]
    assert "at-least-once" in second["explanation"]


def test_a_poison_record_in_no_dlq_is_reported() -> None:
    world = _with_stream(consistent())
    assert "poison_not_dead_lettered" in kinds(check(world)[0])
    world.relay_dlq = [_given_up_by_mapping(POISON_NUMBER, POISON_NUMBER, 1)]  # the mapping gave up on it: there too
    violations, summary = check(world)
    assert violations == []
    assert (
        summary["deadLetters"][0]["reason"] == "RetryAttemptsExhausted after 6 invocation(s), function error Unhandled"
    )


def test_a_real_record_dead_lettered_after_its_event_was_published_is_explained_not_a_violation() -> None:
    """The relay published OK's order.placed, then failed until the mapping gave up on the record: no event lost."""
    world = _with_stream(consistent())
    world.relay_dlq = [_dead_lettered_by_relay(POISON_NUMBER, "ord_poison-1"), _given_up_by_mapping("100", "100", 1)]
    violations, summary = check(world)
    assert violations == []
    assert summary["dlq"]["realRecordsDeadLettered"] == 1
    assert summary["dlq"]["eventsLost"] == 0
    entry = summary["deadLetters"][1]
    assert entry["explanation"] == "a real order change the relay gave up on; its event was published nonetheless"
    assert entry["records"][0] == {"sequenceNumber": "100", "poison": False, "inStream": True, "orderId": OK,
                                        "eventName": "INSERT", "status": "PENDING", "event": f"{OK}:PENDING",
                                        "eventPublished": True}  # fmt: skip


def test_a_real_record_dead_lettered_whose_event_was_never_published_is_reported() -> None:
    """The same record, but the event never reached the audit queue: lost, with the DLQ message that explains it."""
    world = _with_stream(consistent())
    world.events = [event for event in world.events if event.deduplication_id != f"{OK}:CONFIRMED"]
    # A batch from OK's placed to CANCELLED's cancelled: the mapping held the records its filter lets through.
    world.relay_dlq = [_dead_lettered_by_relay(POISON_NUMBER, "ord_poison-1"), _given_up_by_mapping("120", "140", 2)]
    violations, summary = check(world)
    found = kinds(violations)
    assert found["dlq_event_lost"] == {OK}
    assert found["event_missing"] == {OK}  # the events check sees the hole too, without the reason
    [lost] = [v for v in violations if v.kind == "dlq_event_lost"]
    assert lost.detail == (
        f"stream record 130 (MODIFY CONFIRMED) was dead-lettered and its event {OK}:CONFIRMED never published"
        " (mapping: RetryAttemptsExhausted after 6 invocation(s), function error Unhandled)"
    )
    entry = summary["deadLetters"][1]
    assert [r["sequenceNumber"] for r in entry["records"]] == ["120", "130", "140"]  # both ends, and what is between
    assert [r["eventPublished"] for r in entry["records"]] == [None, False, True]
    assert entry["explanation"].endswith("ITS EVENT WAS NEVER PUBLISHED")
    assert summary["dlq"]["eventsLost"] == 1
    # Dead-lettered by the relay itself (a real record it took for poison): the same verdict.
    world.relay_dlq = [_dead_lettered_by_relay(POISON_NUMBER, "ord_poison-1"), _dead_lettered_by_relay("130", OK)]
    assert kinds(check(world)[0])["dlq_event_lost"] == {OK}


def test_a_dlq_message_naming_records_the_stream_does_not_hold_is_reported() -> None:
    world = _with_stream(consistent())
    world.relay_dlq = [_given_up_by_mapping(POISON_NUMBER, "999", 9)]
    assert "dlq_unexplained" in kinds(check(world)[0])
    world = consistent()  # no stream read at all: a plain body, as older callers pass it
    world.poison_sequence_numbers = {"100"}
    world.relay_dlq = [
        {"DDBStreamBatchInfo": {"startSequenceNumber": "100", "endSequenceNumber": "140", "batchSize": 9}}
    ]
    assert "dlq_unexplained" in kinds(check(world)[0])


def test_an_event_in_the_audit_dlq_is_reported_with_why_it_is_there() -> None:
    world = consistent()
    confirmed = world.events[2]
    world.audit_dlq = [DeadLetter(confirmed.body, {"MessageDeduplicationId": confirmed.deduplication_id,
                                                   "ApproximateReceiveCount": "5"})]  # fmt: skip
    violations, summary = check(world)
    assert kinds(violations) == {"audit_dlq_event": {OK}}
    [entry] = summary["deadLetters"]
    assert entry == {"queue": "audit", "sentBy": "sqs redrive", "orderId": OK, "type": "order.confirmed",
                     "reason": "received 5 time(s) without being deleted (the queue's maxReceiveCount)",
                     "receiveCount": 5, "event": f"{OK}:CONFIRMED", "alsoOnAuditQueue": True}  # fmt: skip
