"""The orders service's steps: create an order, confirm it, close it after compensation.

Each step is idempotent twice over (docs/saga-steps.md): Powertools remembers its answer for an hour,
and every write is conditional, so a replay after the record expired still changes nothing twice.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeGuard

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from saga_common.clock import now
from saga_common.commands import currency, positive_int, required
from saga_common.errors import BusinessError, ConcurrentUpdate, InvalidCommand
from saga_common.idempotency import Command, idempotent_step
from saga_common.ids import derived_id
from saga_common.observability import logger, metrics, tracer

from orders import repository
from orders.errors import IdempotencyKeyReused, InvalidOrder, OrderNotPending
from orders.model import FailedCompensation, FailureCode, FailureReason, Order, OrderLine, OrderStatus

# Inventory reserves every line plus the reservation in one DynamoDB transaction (at most 100 items).
MAX_LINES = 99

# Caught errors that are business answers; anything else means a service was unavailable.
BUSINESS_FAILURES = {
    "OutOfStock": FailureCode.OUT_OF_STOCK,
    "PaymentDeclined": FailureCode.PAYMENT_DECLINED,
    "UnknownSku": FailureCode.UNKNOWN_SKU,
    "InvalidOrder": FailureCode.INVALID_REQUEST,
}
# Technical causes hold stack traces and internal names: the client gets this sentence instead.
SERVICE_UNAVAILABLE_DETAIL = "The order could not be completed because a service it depends on was unavailable."
REJECTED_DETAIL = "The order was rejected."

# Closing is the end of compensation: a CONFIRMED order gets here only when its confirmation was
# not seen in time and the payment, invoice and stock were undone after it.
CLOSABLE = frozenset({OrderStatus.PENDING, OrderStatus.CONFIRMED})
MAX_WRITE_ATTEMPTS = 3


# ---------------------------------------------------------------- create
def create_order(*, command: Command) -> dict[str, Any]:
    """Place the order for this Idempotency-Key, or answer with the one it already placed, as it is now."""
    order_id = _order_of_key(command, refused_as=InvalidOrder)
    placed = _place_order(command=command)
    # Powertools answers a replay from the record it kept when the order was new, but the saga may
    # have confirmed or cancelled it since: the state machine routes a replay by the current status.
    current = repository.get(order_id)
    return current.order.to_dict() if current else placed


def _order_of_key(command: Command, *, refused_as: type[BusinessError]) -> str:
    """The order id of the command's Idempotency-Key, set as the log correlation id and trace annotation (the
    state machine invokes these steps by key: the order id is not known before)."""
    key = command.get("idempotencyKey")
    if not _is_text(key):
        raise refused_as("idempotencyKey: required, a non-empty string")
    order_id = order_id_for(key)
    logger.set_correlation_id(order_id)
    tracer.put_annotation("orderId", order_id)
    return order_id


@idempotent_step(key="idempotencyKey", validate="request")
def _place_order(*, command: Command) -> dict[str, Any]:
    request = command.get("request")
    customer_id, lines = parse_request(request)
    placed_at = now()
    order = Order(
        order_id=order_id_for(command["idempotencyKey"]),
        status=OrderStatus.PENDING,
        customer_id=customer_id,
        items=lines,
        created_at=placed_at,
        updated_at=placed_at,
    )
    request_hash = hash_request(request)
    existing = repository.insert(order, request_hash)
    if existing is None:
        metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=1)
        logger.info("order placed", extra={"lines": len(lines)})
        return order.to_dict()
    # The conditional put found the order: still ours only if the body is the same.
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request body.")
    logger.info("order replayed", extra={"status": existing.order.status.value})
    return existing.order.to_dict()


def order_id_for(idempotency_key: str) -> str:
    """The order id a key always maps to (`ord_` + 26 hex chars of its SHA-256): a replay finds its order."""
    return derived_id("ord", idempotency_key)


def hash_request(request: Any) -> str:
    """SHA-256 of the canonical JSON of the request: tells a replay from a reused key without
    storing the payment token it covers."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_request(request: Any) -> tuple[str, tuple[OrderLine, ...]]:
    """The customer and lines of a valid request; InvalidOrder naming the first bad field otherwise.

    API Gateway checks the shape first; this also guards direct invocations and checks what a JSON
    Schema cannot (one line per SKU). Messages never echo the payment token.
    """
    if not isinstance(request, dict):
        raise InvalidOrder("request: must be an object with customerId, items and payment")
    customer_id = request.get("customerId")
    if not _is_text(customer_id):
        raise InvalidOrder("customerId: required, a non-empty string")
    items = request.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidOrder("items: required, a list of at least one line")
    if len(items) > MAX_LINES:
        raise InvalidOrder(f"items: at most {MAX_LINES} lines per order, got {len(items)}")
    lines: list[OrderLine] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        field = f"items[{index}]"
        if not isinstance(item, dict):
            raise InvalidOrder(f"{field}: must be an object with sku and quantity")
        sku, quantity = item.get("sku"), item.get("quantity")
        if not _is_text(sku):
            raise InvalidOrder(f"{field}.sku: required, a non-empty string")
        if sku in seen:
            raise InvalidOrder(f"{field}.sku: {sku} appears more than once; send one line per SKU")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidOrder(f"{field}.quantity: must be a whole number of at least 1")
        seen.add(sku)
        lines.append(OrderLine(sku=sku, quantity=quantity))
    payment = request.get("payment")
    if not isinstance(payment, dict) or not _is_text(payment.get("token")):
        raise InvalidOrder("payment.token: required, a non-empty string")
    return customer_id, tuple(lines)


# ---------------------------------------------------------------- abandon
def abandon_order(*, command: Command) -> dict[str, Any]:
    """CreateOrder failed technically after its retries, maybe after writing the order (a crash or a timeout after
    the write): close whatever this Idempotency-Key created, so no order is left PENDING with no saga to finish it.

    A PENDING order becomes CANCELLED (SERVICE_UNAVAILABLE). If none was written, it is written PENDING and then
    cancelled (its `order.placed` and `order.cancelled` events follow), so a create still in flight finds it and
    changes nothing, and a replay of the request repeats this outcome. An order already past PENDING (a concurrent
    replay finished it) is answered as it is. Every write is conditional, so a retry changes nothing twice.
    """
    order_id = _order_of_key(command, refused_as=InvalidCommand)
    request = command.get("request")
    try:
        customer_id, lines = parse_request(request)
    except InvalidOrder as invalid:  # CreateOrder would have refused it as a business error, not failed
        raise InvalidCommand(f"request: {invalid}") from None
    placed_at = now()
    placed = Order(order_id=order_id, status=OrderStatus.PENDING, customer_id=customer_id, items=lines,
                   created_at=placed_at, updated_at=placed_at)  # fmt: skip
    existing = repository.insert(placed, hash_request(request))
    if existing is not None and existing.request_hash != hash_request(request):
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request body.")
    reason = failure_reason(command.get("failure") or {})

    def close(order: Order) -> Order | None:
        if order.status is not OrderStatus.PENDING:
            return None  # finished by another execution of the same request: its outcome stands
        return replace(order, status=OrderStatus.CANCELLED, failure_reason=reason, updated_at=now())

    order, changed = _transition(order_id, close)
    if changed:
        _record_closing(order, reason)
    return order.to_dict()


# ---------------------------------------------------------------- confirm
@idempotent_step(validate="[items, total, paymentId, invoiceId]")
def confirm_order(*, command: Command) -> dict[str, Any]:
    """PENDING -> CONFIRMED with the priced lines, the payment and the invoice."""
    order_id = required(command, "orderId", str)

    def confirm(order: Order) -> Order | None:
        if order.status is OrderStatus.CONFIRMED:
            return None
        if order.status is not OrderStatus.PENDING:
            raise OrderNotPending(f"order {order_id} is {order.status.value}; only a PENDING order can be confirmed")
        return replace(
            order,
            status=OrderStatus.CONFIRMED,
            items=priced_lines(command),
            total=positive_int(command, "total"),
            currency=currency(command),
            payment_id=required(command, "paymentId", str),
            invoice_id=required(command, "invoiceId", str),
            updated_at=now(),
        )

    order, changed = _transition(order_id, confirm)
    if changed:
        metrics.add_metric(name="OrdersConfirmed", unit=MetricUnit.Count, value=1)
        logger.info("order confirmed", extra={"total": order.total, "currency": order.currency})
    return order.to_dict()


def priced_lines(command: Command) -> tuple[OrderLine, ...]:
    """The lines as inventory priced them; InvalidCommand if the workflow passed something else."""
    lines = []
    for index, line in enumerate(required(command, "items", list)):
        at = f"items[{index}]."
        if not isinstance(line, dict):
            raise InvalidCommand(f"items[{index}] must be of type dict, got {type(line).__name__}")
        lines.append(
            OrderLine(
                sku=required(line, "sku", str, at=at),
                quantity=positive_int(line, "quantity", at=at),
                name=required(line, "name", str, at=at),
                unit_price=required(line, "unitPrice", int, at=at),
                line_total=required(line, "lineTotal", int, at=at),
            )
        )
    return tuple(lines)


# ---------------------------------------------------------------- close
@idempotent_step(validate="failure.Error")
def close_order(*, command: Command) -> dict[str, Any]:
    """End a compensated order: CANCELLED with its reason, or COMPENSATION_FAILED if an undo failed."""
    order_id = required(command, "orderId", str)
    reason = failure_reason(command.get("failure") or {})
    failed = failed_compensations(command.get("compensations") or [])
    status = OrderStatus.COMPENSATION_FAILED if failed else OrderStatus.CANCELLED

    def close(order: Order) -> Order | None:
        if order.status not in CLOSABLE:
            return None  # already closed: a replay changes nothing
        return replace(order, status=status, failure_reason=reason, failed_compensations=failed, updated_at=now())

    order, changed = _transition(order_id, close)
    if changed:
        _record_closing(order, reason)
    return order.to_dict()


def failure_reason(failure: dict[str, Any]) -> FailureReason:
    """The client-facing reason for a Step Functions catch `{Error, Cause}`."""
    code = BUSINESS_FAILURES.get(str(failure.get("Error")))
    if code is None:
        return FailureReason(code=FailureCode.SERVICE_UNAVAILABLE, detail=SERVICE_UNAVAILABLE_DETAIL)
    return FailureReason(code=code, detail=_error_message(failure.get("Cause")) or REJECTED_DETAIL)


def failed_compensations(compensations: list[dict[str, Any]]) -> tuple[FailedCompensation, ...]:
    return tuple(
        FailedCompensation(service=str(each.get("service")), error=str(each.get("error") or "Unknown"))
        for each in compensations
        if each.get("status") == "FAILED"
    )


def _error_message(cause: Any) -> str | None:
    """`errorMessage` of a Lambda error's Cause (a JSON string), if it has one."""
    try:
        parsed = json.loads(cause) if isinstance(cause, str) else None
    except ValueError:
        return None
    message = parsed.get("errorMessage") if isinstance(parsed, dict) else None
    return message if _is_text(message) else None


def _record_closing(order: Order, reason: FailureReason) -> None:
    if order.status is OrderStatus.COMPENSATION_FAILED:
        metrics.add_metric(name="CompensationFailures", unit=MetricUnit.Count, value=1)
        logger.error(
            "compensation failed; the order needs manual action",
            extra={
                "orderId": order.order_id,
                "failedCompensations": [failed.to_dict() for failed in order.failed_compensations],
            },
        )
        return
    # A dimension on `metrics` would apply to every metric of the invocation: this one gets its own blob.
    with single_metric(name="OrdersCompensated", unit=MetricUnit.Count, value=1) as metric:
        if metrics.service:
            metric.add_dimension(name="service", value=str(metrics.service))
        metric.add_dimension(name="reason", value=reason.code.value)
    logger.info("order cancelled", extra={"reason": reason.code.value})


# ---------------------------------------------------------------- shared
def _transition(order_id: str, decide: Callable[[Order], Order | None]) -> tuple[Order, bool]:
    """Apply `decide` to the stored order and write its answer, unless the order changed meanwhile.

    `decide` returns the new order, or None to leave it as it is. Returns the order and whether this
    call changed it.
    """
    for _ in range(MAX_WRITE_ATTEMPTS):
        stored = repository.get(order_id)
        if stored is None:
            raise InvalidCommand(f"order {order_id} does not exist")
        updated = decide(stored.order)
        if updated is None:
            return stored.order, False
        if repository.replace(stored, updated):
            return updated, True
        # Another writer (a retry of this step, or the other transition) won the race: decide on its result.
    raise ConcurrentUpdate(f"order {order_id} kept changing; giving up after {MAX_WRITE_ATTEMPTS} attempts")


def _is_text(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value.strip() != ""
