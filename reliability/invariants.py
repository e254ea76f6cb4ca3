"""What must hold after any run of the saga, however it failed: read from every table, the audit queue,
the DLQs and the HTTP answers, never from what the run intended.

    violations, summary = check(snapshot)

`Snapshot` holds what was read; `check` returns one `Violation` per broken rule (its kind, what is
wrong, the order ids) and a summary of the outcomes. The rules:

- stock: no SKU below zero; every SKU's initial stock = available + units held by CONFIRMED orders,
  and its `reserved` = those same units (stock conserved);
- money: no order charged twice; a CONFIRMED order has exactly one captured charge of its total, its
  payment record CAPTURED, one ISSUED invoice of its total and a balanced sale entry, nothing reversed;
  a CANCELLED order has a net charge of zero, its invoice absent or VOID, its ledger netting zero and
  its stock released; a COMPENSATION_FAILED order says which compensation failed and why, and what
  the other services undid is undone;
- no saga left PENDING, and no order nobody asked for;
- events: after deduplication by MessageDeduplicationId, each order state change exactly once, in
  order per order (`order.placed` first, the final status's event last), agreeing with the order;
- HTTP: every answer is the status its order's outcome maps to (README "The API"), a replay gets
  the same status and body as the original; nothing in a DLQ but what was made poison on purpose.
"""

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

TERMINAL = ("CONFIRMED", "CANCELLED", "COMPENSATION_FAILED")
STATUS_BY_CODE = {
    "OUT_OF_STOCK": 409,
    "PAYMENT_DECLINED": 402,
    "UNKNOWN_SKU": 422,
    "INVALID_REQUEST": 400,
    "SERVICE_UNAVAILABLE": 503,
}
EVENT_BY_STATUS = {
    "PENDING": "order.placed",
    "CONFIRMED": "order.confirmed",
    "CANCELLED": "order.cancelled",
    "COMPENSATION_FAILED": "order.compensation_failed",
}
NO_OUTCOME = (429, 504)  # throttled or timed out: the client retries with the same key to learn the outcome


@dataclass
class Request:
    """One HTTP request of the run and its answer."""

    key: str  # the Idempotency-Key
    body: dict[str, Any]
    status: int
    response: Any  # the parsed JSON body (None if not JSON)
    kind: str = "original"  # original | replay (same key, same body) | reused (same key, other body) | retry


@dataclass
class Event:
    """An audit queue message, in the order received."""

    deduplication_id: str
    group_id: str
    body: dict[str, Any]


@dataclass
class Snapshot:
    initial_stock: dict[str, int]  # SKU -> units seeded, for the SKUs the run owns
    orders: list[dict[str, Any]]  # orders table items, `document` parsed into `view`
    inventory: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    billing: list[dict[str, Any]]
    events: list[Event]
    requests: list[Request]
    relay_dlq: list[dict[str, Any]] = field(default_factory=list)  # on-failure records (parsed bodies)
    audit_dlq: list[dict[str, Any]] = field(default_factory=list)
    poison_sequence_numbers: set[str] = field(default_factory=set)  # stream records made poison on purpose
    poison_order_ids: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Violation:
    kind: str
    detail: str
    order_ids: tuple[str, ...] = ()

    def view(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "orderIds": list(self.order_ids)}


def order_id_for(key: str) -> str:
    """The order id the API derives from an Idempotency-Key (docs/saga-steps.md), computed independently."""
    return "ord_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:26]


def expected_answer(order: dict[str, Any] | None) -> tuple[int, str | None] | None:
    """(HTTP status, problem code) an order's final state maps to; None when it has no final state."""
    if order is None:
        return None
    status = order["status"]
    if status == "CONFIRMED":
        return 201, None
    if status == "COMPENSATION_FAILED":
        return 500, "COMPENSATION_FAILED"
    if status == "CANCELLED":
        code = (order.get("failureReason") or {}).get("code")
        return (STATUS_BY_CODE[code], code) if code in STATUS_BY_CODE else (500, "INTERNAL_ERROR")
    return None


class _Checker:
    def __init__(self, snapshot: Snapshot) -> None:
        self.s = snapshot
        self.violations: list[Violation] = []
        self.views = {
            item["orderId"]: _view(item) for item in snapshot.orders if item["orderId"] not in snapshot.poison_order_ids
        }
        self.skus = {item["sku"]: item for item in snapshot.inventory if str(item.get("pk", "")).startswith("SKU#")}
        self.reservations = {i["orderId"]: i for i in snapshot.inventory if str(i["pk"]).startswith("RESERVATION#")}
        self.payments = {i["orderId"]: i for i in snapshot.payments if str(i["pk"]).startswith("PAYMENT#")}
        self.charges: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in snapshot.payments:
            if str(item["pk"]).startswith("SIMULATOR#CHARGE#"):
                self.charges[item["idempotencyKey"]].append(item)
        self.billing: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for item in snapshot.billing:
            if item.get("fence") and item["sk"] == "LEDGER#SALE":
                continue  # a void took the sale's key so that no sale comes later: not a sale
            self.billing[item["orderId"]][item["sk"]] = item

    def fail(self, kind: str, detail: str, *order_ids: str) -> None:
        self.violations.append(Violation(kind, detail, tuple(order_ids)))

    # ------------------------------------------------------------ stock

    def stock(self) -> None:
        held: Counter[str] = Counter()
        for view in self.views.values():
            if view and view["status"] == "CONFIRMED":
                for line in view["items"]:
                    held[line["sku"]] += int(line["quantity"])
        for sku, initial in sorted(self.s.initial_stock.items()):
            item = self.skus.get(sku)
            if item is None:
                self.fail("stock_missing", f"{sku}: seeded but not in the inventory table")
                continue
            available, reserved = int(item["available"]), int(item["reserved"])
            holders = tuple(o for o, v in self.views.items() if v and _holds(v, sku))
            if available < 0 or reserved < 0:
                self.fail("oversell", f"{sku}: available {available}, reserved {reserved}", *holders)
            if initial != available + held[sku]:
                self.fail(
                    "stock_not_conserved",
                    f"{sku}: initial {initial} != available {available} + {held[sku]} held by confirmed orders",
                    *holders,
                )
            if reserved != held[sku]:
                self.fail("stock_not_conserved", f"{sku}: reserved {reserved} but confirmed orders hold {held[sku]}")

    # ------------------------------------------------------------ orders, money, undo

    def orders(self) -> None:
        asked = {order_id_for(r.key) for r in self.s.requests}
        for order_id, view in sorted(self.views.items()):
            if view is None:
                self.fail("order_unreadable", "the order's document is not an order view", order_id)
                continue
            if order_id not in asked:
                self.fail("order_not_requested", "an order no request asked for", order_id)
            charges = self.charges.get(order_id, [])
            if len(charges) > 1:
                self.fail("double_charge", f"{len(charges)} charges at the provider", order_id)
            status = view["status"]
            if status not in TERMINAL:
                self.fail("saga_not_terminal", f"left {status}", order_id)
            elif status == "CONFIRMED":
                self.confirmed(order_id, view, charges)
            elif status == "CANCELLED":
                self.undone(order_id, view, charges, {"payments", "billing", "inventory"})
            else:
                failed = view.get("failedCompensations") or []
                if not failed or not all(f.get("service") and f.get("error") for f in failed):
                    unexplained = "COMPENSATION_FAILED without the failed service and error"
                    self.fail("compensation_failure_unexplained", unexplained, order_id)
                services = {"payments", "billing", "inventory"} - {f.get("service") for f in failed}
                self.undone(order_id, view, charges, services)

    def confirmed(self, order_id: str, view: dict[str, Any], charges: list[dict[str, Any]]) -> None:
        total = view.get("total")
        problems = []
        captured = [c for c in charges if c.get("status") == "CAPTURED" and c.get("amount") == total]
        if len(captured) != 1 or len(charges) != 1:
            problems.append(f"charges {[(c.get('status'), c.get('amount')) for c in charges]} for a total of {total}")
        payment = self.payments.get(order_id)
        if not payment or payment.get("status") != "CAPTURED" or payment.get("amount") != total:
            problems.append(f"payment record {_brief(payment, 'status', 'amount')}")
        elif payment.get("paymentId") != view.get("paymentId"):
            problems.append("the order's paymentId is not its payment's")
        records = self.billing.get(order_id, {})
        invoice, sale, reversal = records.get("INVOICE"), records.get("LEDGER#SALE"), records.get("LEDGER#REVERSAL")
        if not invoice or invoice.get("status") != "ISSUED" or invoice.get("total") != total:
            problems.append(f"invoice {_brief(invoice, 'status', 'total')}")
        elif invoice.get("invoiceId") != view.get("invoiceId"):
            problems.append("the order's invoiceId is not its invoice's")
        if not sale or not _balanced(sale) or _amount(sale) != total:
            problems.append(f"sale entry {_brief(sale, 'postings')}")
        if reversal:
            problems.append("its sale was reversed")
        reservation = self.reservations.get(order_id)
        if not reservation or reservation.get("status") != "RESERVED" or _units(reservation) != _units(view):
            problems.append(f"reservation {_brief(reservation, 'status', 'items')}")
        for problem in problems:
            self.fail("confirmed_incomplete", problem, order_id)

    def undone(self, order_id: str, view: dict[str, Any], charges: list[dict[str, Any]], services: set[str]) -> None:
        """What each of `services` did for the order is undone."""
        problems = []
        if "payments" in services:
            kept = [c for c in charges if c.get("status") != "REFUNDED" or c.get("refundedAmount") != c.get("amount")]
            if kept:
                problems.append(f"net charge not zero: {[(c.get('status'), c.get('amount')) for c in kept]}")
            payment = self.payments.get(order_id)
            if payment and payment.get("status") == "CAPTURED":
                problems.append("its payment record is still CAPTURED")
        if "billing" in services:
            records = self.billing.get(order_id, {})
            invoice, sale, reversal = records.get("INVOICE"), records.get("LEDGER#SALE"), records.get("LEDGER#REVERSAL")
            if invoice and invoice.get("status") != "VOID":
                problems.append(f"invoice {_brief(invoice, 'status')}")
            if sale and not (reversal and _balanced(reversal) and _amount(reversal) == -_amount(sale)):
                problems.append("its sale entry is not reversed")
            if reversal and not sale:
                problems.append("a reversal without a sale")
        if "inventory" in services:
            reservation = self.reservations.get(order_id)
            if reservation and reservation.get("status") != "RELEASED":
                problems.append(f"stock not released: reservation {_brief(reservation, 'status')}")
        for problem in problems:
            self.fail("not_undone", f"{view['status']}: {problem}", order_id)

    # ------------------------------------------------------------ events

    def events(self) -> None:
        by_order: dict[str, list[Event]] = defaultdict(list)
        seen: dict[str, Event] = {}
        for event in self.s.events:
            earlier = seen.get(event.deduplication_id)
            if earlier is not None:
                if earlier.body != event.body:
                    self.fail("event_conflict", f"two different events share {event.deduplication_id}",
                              str(event.body.get("orderId")))  # fmt: skip
                continue  # a duplicate SNS FIFO would drop within its window
            seen[event.deduplication_id] = event
            by_order[str(event.body.get("orderId"))].append(event)
        for order_id in sorted(set(by_order) - set(self.views)):
            if order_id not in self.s.poison_order_ids:
                self.fail("event_unexpected", "events for an order not in the table", order_id)
        for order_id, view in sorted(self.views.items()):
            if view is None:
                continue
            types = [e.body.get("type") for e in by_order.get(order_id, [])]
            final = EVENT_BY_STATUS.get(view["status"])
            expected = ["order.placed"] if view["status"] == "PENDING" else ["order.placed", final]
            # A CONFIRMED order that compensation reached (its confirmation was not seen in time) was confirmed
            # on the way to CANCELLED: the confirmed event in between is a true state change.
            with_confirmation = ["order.placed", "order.confirmed", final]
            if types != expected and not (view["status"] != "CONFIRMED" and types == with_confirmation):
                missing = [t for t in expected if t not in types]
                kind = "event_missing" if missing else "event_out_of_order" if sorted(types) == sorted(expected) else (
                    "event_unexpected")  # fmt: skip
                self.fail(kind, f"events {types}, expected {expected}", order_id)
            for event in by_order.get(order_id, []):
                data = event.body.get("data") or {}
                placed = event.body.get("type") == "order.placed"
                if not placed and EVENT_BY_STATUS.get(str(data.get("status"))) != event.body.get("type"):
                    self.fail("event_inconsistent", f"{event.body.get('type')} carries status {data.get('status')}",
                              order_id)  # fmt: skip
                if event.deduplication_id != f"{order_id}:{data.get('status')}":
                    self.fail("event_inconsistent", f"deduplication id {event.deduplication_id}", order_id)
            terminal = [e for e in by_order.get(order_id, []) if e.body.get("type") == final]
            if terminal and view["status"] in TERMINAL and terminal[-1].body.get("data") != view:
                self.fail("event_inconsistent", f"{final} does not carry the order as stored", order_id)

    # ------------------------------------------------------------ HTTP answers and DLQs

    def answers(self) -> None:
        originals: dict[str, Request] = {}
        for request in self.s.requests:
            order_id = order_id_for(request.key)
            view = self.views.get(order_id)
            if request.status in NO_OUTCOME:
                continue  # the client's retry with the same key is checked instead
            problem = request.response if isinstance(request.response, dict) else {}
            if request.kind == "reused":
                if (request.status, problem.get("code")) != (422, "IDEMPOTENCY_KEY_REUSED"):
                    self.fail("wrong_status", f"a reused key got {request.status} {problem.get('code')}", order_id)
                continue
            expected = expected_answer(view)
            got = (request.status, None if request.status == 201 else problem.get("code"))
            if expected is None:
                # No order, or one never finished: only an order not created may say so (503, nothing done).
                if view is not None or got != (503, "SERVICE_UNAVAILABLE"):
                    self.fail("wrong_status", f"{request.kind} got {got} for an order {view and view['status']}",
                              order_id)  # fmt: skip
            elif got != expected:
                self.fail("wrong_status", f"{request.kind} got {got}, the order's outcome maps to {expected}", order_id)
            answered_id = problem.get("orderId")  # a 201's body is the order, a problem names it when known
            if answered_id is not None and answered_id != order_id:
                self.fail("wrong_status", f"answered orderId {answered_id}", order_id)
            if request.status == 201 and view is not None and problem != view:
                self.fail("wrong_status", "the 201 body is not the order as stored", order_id)
            if request.kind == "original":
                originals[request.key] = request
            elif request.kind == "replay" and request.key in originals:
                first = originals[request.key]
                if (first.status, first.response) != (request.status, request.response):
                    self.fail("replay_mismatch", f"original {first.status}, replay {request.status}", order_id)

    def dlqs(self) -> None:
        for record in self.s.relay_dlq:
            if "record" in record:  # a poison record the relay dead-lettered itself, whole
                number = (record["record"].get("dynamodb") or {}).get("SequenceNumber")
                if number not in self.s.poison_sequence_numbers:
                    self.fail("dlq_not_poison", f"relay DLQ holds record {number}, not made poison on purpose: "
                              f"{record.get('reason')}")  # fmt: skip
                continue
            info = record.get("DDBStreamBatchInfo") or {}
            first, last = info.get("startSequenceNumber"), info.get("endSequenceNumber")
            if {first, last} - self.s.poison_sequence_numbers:
                self.fail("dlq_not_poison", f"relay DLQ holds records {first}..{last} ({info.get('batchSize')}), "
                          f"not only those made poison on purpose")  # fmt: skip
        for message in self.s.audit_dlq:
            self.fail("dlq_not_poison", f"audit DLQ holds an event: {json.dumps(message)[:200]}",
                      str(message.get("orderId", "")))  # fmt: skip


def check(snapshot: Snapshot) -> tuple[list[Violation], dict[str, Any]]:
    checker = _Checker(snapshot)
    checker.stock()
    checker.orders()
    checker.events()
    checker.answers()
    checker.dlqs()
    outcomes: Counter[str] = Counter()
    compensation_failures = []
    for order_id, view in sorted(checker.views.items()):
        if view is None:
            continue
        reason = (view.get("failureReason") or {}).get("code")
        outcomes[f"{view['status']}" + (f" {reason}" if view["status"] == "CANCELLED" else "")] += 1
        if view["status"] == "COMPENSATION_FAILED":
            compensation_failures.append({"orderId": order_id, "failedCompensations": view.get("failedCompensations")})
    summary = {
        "outcomes": dict(sorted(outcomes.items())),
        "compensationFailures": compensation_failures,
        "events": {
            "received": len(snapshot.events),
            "afterDeduplication": len({event.deduplication_id for event in snapshot.events}),
        },
        "dlq": {
            "relay": len(snapshot.relay_dlq),
            "audit": len(snapshot.audit_dlq),
            "poisonOnPurpose": len(snapshot.poison_sequence_numbers),
        },
    }
    return checker.violations, summary


# ---------------------------------------------------------------- helpers


def _view(item: dict[str, Any]) -> dict[str, Any] | None:
    try:
        view = json.loads(item["document"])
    except (KeyError, TypeError, ValueError):
        return None
    return view if isinstance(view, dict) and view.get("orderId") == item["orderId"] else None


def _holds(view: dict[str, Any], sku: str) -> bool:
    return any(line["sku"] == sku for line in view.get("items", []))


def _units(record: dict[str, Any]) -> dict[str, int]:
    return {line["sku"]: int(line["quantity"]) for line in record.get("items", [])}


def _balanced(entry: dict[str, Any]) -> bool:
    postings = entry.get("postings") or []
    return bool(postings) and sum(int(p["debit"]) for p in postings) == sum(int(p["credit"]) for p in postings)


def _amount(entry: dict[str, Any]) -> int:
    """What the entry moves: its debits, signed by kind (a reversal moves the sale back)."""
    moved = sum(int(p["debit"]) for p in entry.get("postings") or [])
    return -moved if entry.get("kind") == "REVERSAL" else moved


def _brief(item: dict[str, Any] | None, *names: str) -> str:
    return "absent" if item is None else json.dumps({name: item.get(name) for name in names}, default=str)
