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
- orders belong to their caller: each order is the target of exactly one Idempotency-Key record, of the caller
  stored with the order (a request finds its order through its caller's key record, never by computing its id);
- no saga left PENDING, and no order nobody asked for; no order left unfinished after the sweep window (still in
  the recovery sweep's index: PENDING, COMPENSATION_FAILED awaiting a retry, or FLAGGED when the sweep gave up);
- events: after deduplication by MessageDeduplicationId, each order state change exactly once, in
  order per order (`order.placed` first, the final status's event last), agreeing with the order;
- HTTP: every answer is the status its order's outcome maps to (README, The API), a replay gets
  the same status and body as the original;
- DLQs: every record made poison on purpose is in the relay's DLQ, at least once (dead-lettering is a
  side effect of an at-least-once relay: a batch delivered twice, or run again after a crash, sends the
  record again); any other record there is a real order change the relay gave up on, and a violation
  if its event was never published (`dlq_event_lost`); a message that names no record it can find is
  `dlq_unexplained`; anything in the audit DLQ is an event the audit consumer gave up on
  (`audit_dlq_event`). `summary["deadLetters"]` says why each DLQ message is there.
"""

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
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
# An execution that stopped dead (the orchestrator went away) answers 500 without an outcome: the recovery sweep
# finishes the order, and the order's final state is checked instead of this answer.
HALTED = (500, "INTERNAL_ERROR")
NO_OUTCOME = (429, 504)  # throttled or timed out: the client retries with the same key to learn the outcome
# OrderUnavailable (ASL): the order could not be stored or read now, "retry with the same Idempotency-Key". It names
# no order, unlike a compensated 503 (the order's own outcome, orderId included). It may follow a write that did land:
# StoreClaimedOrder stores a claimed key's missing order, then asks for the retry that runs its saga.
NOT_YET = (503, "SERVICE_UNAVAILABLE")
# The orders table holds orders (random ids) and, beside them, one record per caller's Idempotency-Key naming its
# order (targetOrderId): the ASL's IdentifyOrder and ClaimIdempotencyKey.
ORDER_PREFIX, KEY_PREFIX = "ord_", "key_"


@dataclass
class Request:
    """One HTTP request of the run and its answer."""

    key: str  # the Idempotency-Key
    body: dict[str, Any]
    status: int
    response: Any  # the parsed JSON body (None if not JSON)
    kind: str = "original"  # original | replay (same key, same body) | reused (same key, other body) | retry
    # Who sent it, as the API tells the saga (`caller`: an IAM user's ARN, a role's without the session name);
    # None: the only caller the key records name (a run signed as one caller).
    caller: str | None = None
    sent: float = 0.0  # seconds since the run began, when sent and when answered (for the report of a violation)
    answered: float = 0.0


@dataclass
class Event:
    """An audit queue message, in the order received."""

    deduplication_id: str
    group_id: str
    body: dict[str, Any]


@dataclass
class DeadLetter:
    """A DLQ message: its parsed body, and the SQS attributes it was received with."""

    body: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamRecord:
    """A record of the orders table's stream, as much of it as says which event it stands for."""

    sequence_number: str
    order_id: str
    event_name: str  # INSERT | MODIFY | REMOVE
    status: str | None  # of the new image
    old_status: str | None = None

    @property
    def deduplication_id(self) -> str | None:
        """The id of the event the relay owes for it (outbox_relay.events), None if it makes none."""
        if self.event_name == "INSERT":  # of an order: the mapping's filter lets no key record's through
            return f"{self.order_id}:{self.status}" if self.order_id.startswith(ORDER_PREFIX) else None
        if self.event_name == "MODIFY" and self.status in TERMINAL and self.status != self.old_status:
            return f"{self.order_id}:{self.status}"
        return None


@dataclass
class Snapshot:
    initial_stock: dict[str, int]  # SKU -> units seeded, for the SKUs the run owns
    orders: list[dict[str, Any]]  # orders table items: the orders, and the Idempotency-Key records beside them
    inventory: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    billing: list[dict[str, Any]]
    events: list[Event]
    requests: list[Request]
    # The relay's DLQ: records it dead-lettered itself ({"reason", "record"}) and the mapping's on-failure records
    # ({"requestContext", "DDBStreamBatchInfo", ...}); a plain dict is taken as a body without attributes.
    relay_dlq: Sequence[DeadLetter | dict[str, Any]] = field(default_factory=list)
    audit_dlq: Sequence[DeadLetter | dict[str, Any]] = field(default_factory=list)  # events (raw SNS delivery)
    poison_sequence_numbers: set[str] = field(default_factory=set)  # stream records made poison on purpose
    poison_order_ids: set[str] = field(default_factory=set)
    stream: list[StreamRecord] = field(default_factory=list)  # the orders stream, to say what a DLQ message holds


@dataclass(frozen=True)
class Violation:
    kind: str
    detail: str
    order_ids: tuple[str, ...] = ()

    def view(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "orderIds": list(self.order_ids)}


def key_record_id(caller: str, key: str) -> str:
    """The id of the record a caller's Idempotency-Key is claimed under (the ASL's IdentifyOrder: SHA-256 of the JSON
    array [caller, key]), computed independently. The record names the order (targetOrderId); the order's own id
    is random, and cannot be computed from the key."""
    scoped = json.dumps([caller, key], separators=(",", ":"), ensure_ascii=False)
    return KEY_PREFIX + hashlib.sha256(scoped.encode("utf-8")).hexdigest()


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
        orders = [item for item in snapshot.orders if not str(item["orderId"]).startswith(KEY_PREFIX)]
        self.key_records = {
            item["orderId"]: item for item in snapshot.orders if str(item["orderId"]).startswith(KEY_PREFIX)
        }
        self.callers = sorted({str(record.get("caller")) for record in self.key_records.values()})
        poison = snapshot.poison_order_ids
        self.views = {item["orderId"]: _view(item) for item in orders if item["orderId"] not in poison}
        self.items = {item["orderId"]: item for item in orders}
        self.skus = {item["sku"]: item for item in snapshot.inventory if str(item.get("pk", "")).startswith("SKU#")}
        self.reservations = {i["orderId"]: i for i in snapshot.inventory if str(i["pk"]).startswith("RESERVATION#")}
        self.payments = {i["orderId"]: i for i in snapshot.payments if str(i["pk"]).startswith("PAYMENT#")}
        self.charges: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in snapshot.payments:
            if str(item["pk"]).startswith("SIMULATOR#CHARGE#"):
                self.charges[item["idempotencyKey"]].append(item)
        self.stream_records = {record.sequence_number: record for record in snapshot.stream}
        self.billing: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for item in snapshot.billing:  # one item per order: the invoice, carrying its sale and reversal entries
            records = self.billing[item["orderId"]]
            records[item["sk"]] = item
            for entry, name in (("sale", "LEDGER#SALE"), ("reversal", "LEDGER#REVERSAL")):
                if item.get(entry):
                    records[name] = item[entry]

    def fail(self, kind: str, detail: str, *order_ids: str) -> None:
        self.violations.append(Violation(kind, detail, tuple(order_ids)))

    def order_id_of(self, request: Request) -> str | None:
        """The order the request's key names, found as a replay finds it: through its caller's key record. None if
        the key was never claimed (the request was refused, or failed before the claim)."""
        callers = [request.caller] if request.caller is not None else self.callers
        targets = {
            str(record["targetOrderId"])
            for caller in callers
            if (record := self.key_records.get(key_record_id(caller, request.key))) is not None
        }
        return targets.pop() if len(targets) == 1 else None

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

    def ownership(self) -> None:
        """Each order is named by one key record, of the caller stored with the order: no other caller's key finds
        it, and no key finds another caller's order."""
        named: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in self.key_records.values():
            named[str(record.get("targetOrderId"))].append(record)
        for order_id, item in sorted(self.items.items()):
            if order_id in self.s.poison_order_ids:
                continue
            records = named.get(order_id, [])
            owners = sorted({str(record.get("caller")) for record in records})
            if len(records) != 1:
                self.fail("order_not_owned", f"named by {len(records)} Idempotency-Key records {owners}", order_id)
            elif owners != [item.get("caller")]:
                self.fail("order_not_owned", f"stored for {item.get('caller')}, its key record is {owners}", order_id)

    def orders(self) -> None:
        asked = {order_id for r in self.s.requests if (order_id := self.order_id_of(r)) is not None}
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
            item = self.items[order_id]
            if "sweep" in item:  # still in the recovery sweep's index: not finished, or given up on (FLAGGED)
                self.fail("order_unfinished", f"{status}, in the sweep's index ({item['sweep']}, "
                          f"{item.get('recoveryAttempts', 0)} attempts) after the sweep window", order_id)  # fmt: skip
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

    def _recovered(self, order_id: str) -> bool:
        """A CANCELLED order the recovery sweep retried: it was COMPENSATION_FAILED before the retry undid it."""
        view = self.views.get(order_id)
        return bool(view and view["status"] == "CANCELLED" and self.items.get(order_id, {}).get("recoveryAttempts"))

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
            types = [str(e.body.get("type")) for e in by_order.get(order_id, [])]
            final = EVENT_BY_STATUS.get(view["status"], f"<no event for status {view['status']}>")
            expected = ["order.placed"] if view["status"] == "PENDING" else ["order.placed", final]
            # A CONFIRMED order that compensation reached (its confirmation was not seen in time) was confirmed
            # on the way to CANCELLED: the confirmed event in between is a true state change.
            with_confirmation = ["order.placed", "order.confirmed", final]
            allowed = [expected] + ([with_confirmation] if view["status"] != "CONFIRMED" else [])
            if self._recovered(order_id):  # COMPENSATION_FAILED, then undone by the sweep's retry: both changes true
                allowed += [[*sequence[:-1], "order.compensation_failed", final] for sequence in allowed]
            if types not in allowed:
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
        originals: dict[tuple[str | None, str], Request] = {}
        for request in self.s.requests:
            found = self.order_id_of(request)
            order_id = found or f"(no order for key {request.key})"
            view = self.views.get(found) if found else None
            problem = request.response if isinstance(request.response, dict) else {}
            if (
                request.status in NO_OUTCOME
                or (request.status, problem.get("code")) == HALTED
                or ((request.status, problem.get("code")) == NOT_YET and "orderId" not in problem)
            ):
                continue  # the client's retry with the same key, or the recovery sweep, gives the outcome
            if request.kind == "reused":
                if (request.status, problem.get("code")) != (422, "IDEMPOTENCY_KEY_REUSED"):
                    self.fail("wrong_status", f"a reused key got {request.status} {problem.get('code')}", order_id)
                continue
            expected = expected_answer(view)
            got = (request.status, None if request.status == 201 else problem.get("code"))
            if got == (500, "COMPENSATION_FAILED") and self._recovered(order_id):
                continue  # true when answered: the sweep's retry undid the order since
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
                originals[request.caller, request.key] = request
            elif request.kind == "replay" and (request.caller, request.key) in originals:
                first = originals[request.caller, request.key]
                if (first.status, first.response) != (request.status, request.response):
                    self.fail("replay_mismatch", f"original {first.status}, replay {request.status}", order_id)

    # ------------------------------------------------------------ DLQs: why each message is there

    def dlqs(self) -> list[dict[str, Any]]:
        """One explanation per DLQ message (the summary's `deadLetters`); a violation for what the design
        does not allow. Dead-lettering is at least once: copies of a record are explained, not violations."""
        published = {event.deduplication_id for event in self.s.events}
        explained = [self.relay_dead_letter(_dead_letter(message), published) for message in self.s.relay_dlq]
        _number_copies(explained)
        dead_lettered = {record["sequenceNumber"] for entry in explained for record in entry["records"]}
        for number in sorted(self.s.poison_sequence_numbers - dead_lettered):
            self.fail("poison_not_dead_lettered", f"stream record {number}, made poison on purpose, is in no DLQ")
        for entry in explained:
            for record in entry["records"]:
                self.judge_dead_lettered(record, entry)
        return explained + [self.audit_dead_letter(_dead_letter(message), published) for message in self.s.audit_dlq]

    def relay_dead_letter(self, letter: DeadLetter, published: set[str]) -> dict[str, Any]:
        body = letter.body
        if "record" in body:  # a record the relay found poison and dead-lettered itself, whole
            record = body.get("record") or {}
            numbers = [str((record.get("dynamodb") or {}).get("SequenceNumber"))]
            entry: dict[str, Any] = {"queue": "relay", "sentBy": "relay", "reason": str(body.get("reason"))}
        else:  # the mapping's on-failure record: it gave up on a batch, named by sequence numbers
            context, info = body.get("requestContext") or {}, body.get("DDBStreamBatchInfo") or {}
            error = (body.get("responseContext") or {}).get("functionError")
            first, last = str(info.get("startSequenceNumber")), str(info.get("endSequenceNumber"))
            numbers = self.batch_numbers(first, last)
            entry = {
                "queue": "relay", "sentBy": "mapping",
                "reason": f"{context.get('condition')} after {context.get('approximateInvokeCount')} invocation(s)"
                + (f", function error {error}" if error else ", records reported failed"),
                "condition": context.get("condition"), "approximateInvokeCount": context.get("approximateInvokeCount"),
                "batch": {"start": first, "end": last, "size": info.get("batchSize")},
            }  # fmt: skip
        if letter.attributes.get("ApproximateReceiveCount"):
            entry["receiveCount"] = int(letter.attributes["ApproximateReceiveCount"])
        entry["records"] = [self.stream_record_view(number, published) for number in numbers]
        return entry

    def batch_numbers(self, first: str, last: str) -> list[str]:
        """The sequence numbers a discarded batch held: the records from `first` to `last` that the mapping's
        filter lets through (they make events, or were made poison), and both ends whatever the stream says."""
        low, high = _position(first), _position(last)
        inside = {
            record.sequence_number for record in self.s.stream
            if low <= _position(record.sequence_number) <= high
            and (record.deduplication_id or record.sequence_number in self.s.poison_sequence_numbers)
        }  # fmt: skip
        return sorted(inside | {first, last}, key=_position)

    def stream_record_view(self, number: str, published: set[str]) -> dict[str, Any]:
        view: dict[str, Any] = {"sequenceNumber": number, "poison": number in self.s.poison_sequence_numbers}
        record = self.stream_records.get(number)
        if record is None:
            return view | {"inStream": False}
        event = record.deduplication_id
        return view | {
            "inStream": True, "orderId": record.order_id, "eventName": record.event_name, "status": record.status,
            "event": event, "eventPublished": None if view["poison"] or event is None else event in published,
        }  # fmt: skip

    def judge_dead_lettered(self, record: dict[str, Any], entry: dict[str, Any]) -> None:
        """A dead-lettered record is fine if it was made poison, or makes no event, or its event was published
        nonetheless (a relay that published, then failed until the mapping gave up); else its event is lost."""
        number, why = record["sequenceNumber"], f"({entry['sentBy']}: {entry['reason']})"
        if record["poison"]:
            return
        if not record["inStream"]:
            self.fail(
                "dlq_unexplained", f"relay DLQ names stream record {number}, which the stream does not hold {why}"
            )
        elif record["eventPublished"] is False:
            change = f"{record['eventName']} {record['status']}"
            detail = (
                f"stream record {number} ({change}) was dead-lettered and its event {record['event']} never published"
            )
            self.fail("dlq_event_lost", f"{detail} {why}", record["orderId"])

    def audit_dead_letter(self, letter: DeadLetter, published: set[str]) -> dict[str, Any]:
        """The audit queue gave up on an event (maxReceiveCount): the chaos run's consumer never fails one."""
        body, attributes = letter.body, letter.attributes
        order_id = str(body.get("orderId", ""))
        event = attributes.get("MessageDeduplicationId") or f"{order_id}:{(body.get('data') or {}).get('status')}"
        received = attributes.get("ApproximateReceiveCount")
        self.fail("audit_dlq_event", f"audit DLQ holds {body.get('type')} {event} (received {received} times)",
                  order_id)  # fmt: skip
        return {
            "queue": "audit", "sentBy": "sqs redrive",
            "reason": f"received {received} time(s) without being deleted (the queue's maxReceiveCount)",
            "receiveCount": int(received) if received else None, "orderId": order_id, "type": body.get("type"),
            "event": event, "alsoOnAuditQueue": event in published,
        }  # fmt: skip


def check(snapshot: Snapshot) -> tuple[list[Violation], dict[str, Any]]:
    checker = _Checker(snapshot)
    checker.stock()
    checker.ownership()
    checker.orders()
    checker.events()
    checker.answers()
    dead_letters = checker.dlqs()
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
        "dlq": _dlq_counts(snapshot, dead_letters),
        "deadLetters": dead_letters,
    }
    return checker.violations, summary


# ---------------------------------------------------------------- helpers


def _dlq_counts(snapshot: Snapshot, dead_letters: list[dict[str, Any]]) -> dict[str, int]:
    """Messages per DLQ, and the distinct stream records the relay's DLQ names (a record may be there twice)."""
    records = {r["sequenceNumber"]: r for e in dead_letters if e["queue"] == "relay" for r in e["records"]}
    return {
        "relay": len(snapshot.relay_dlq),
        "audit": len(snapshot.audit_dlq),
        "poisonOnPurpose": len(snapshot.poison_sequence_numbers),
        "poisonDeadLettered": sum(1 for record in records.values() if record["poison"]),
        "realRecordsDeadLettered": sum(1 for record in records.values() if not record["poison"]),
        "eventsLost": sum(1 for record in records.values() if record.get("eventPublished") is False),
    }


def _dead_letter(message: "DeadLetter | dict[str, Any]") -> DeadLetter:
    return message if isinstance(message, DeadLetter) else DeadLetter(message)


def _number_copies(entries: list[dict[str, Any]]) -> None:
    """Copy n of m of the same records, and why a record is there: the first copy's reason is the record's;
    a later copy of a record dead-lettered by the relay is the relay running it again (at least once)."""
    totals = Counter(tuple(r["sequenceNumber"] for r in entry["records"]) for entry in entries)
    seen: Counter[tuple[str, ...]] = Counter()
    for entry in entries:
        key = tuple(record["sequenceNumber"] for record in entry["records"])
        seen[key] += 1
        entry["copy"], entry["copies"] = seen[key], totals[key]
        poison = all(record["poison"] for record in entry["records"])
        what = "made poison on purpose" if poison else "a real order change the relay gave up on"
        if not poison and all(record.get("eventPublished") is not False for record in entry["records"]):
            what += "; its event was published nonetheless"
        elif not poison:
            what += "; ITS EVENT WAS NEVER PUBLISHED"
        if seen[key] > 1:
            what += (
                f"; copy {seen[key]} of {totals[key]}: the record was run again after it was dead-lettered"
                " (at-least-once delivery: a batch delivered twice, or retried after a crash or an error)"
            )
        entry["explanation"] = what


def _position(sequence_number: str) -> int:
    """Stream sequence numbers are decimal strings that grow; compare them as numbers."""
    try:
        return int(sequence_number)
    except (TypeError, ValueError):
        return -1


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
