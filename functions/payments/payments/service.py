"""Payments' steps: charge an order's total through the provider, and refund it.

The provider is called with the order id as idempotency key, so a retried charge can never take the
money twice; the PAYMENT#<orderId> record, written conditionally, is what this service remembers
after the idempotency record expired. The card token only passes through to the provider.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from saga_common import commands
from saga_common.errors import ConcurrentUpdate
from saga_common.idempotency import Command, idempotent_step
from saga_common.observability import logger, metrics

from payments import repository
from payments.errors import PaymentCancelled, PaymentDeclined
from payments.model import Payment, PaymentStatus
from payments.provider import payment_provider

# Rounds of read-then-conditional-write in RefundPayment; each lost round means a concurrent writer
# finished first, so the next read sees a settled state.
_REFUND_ROUNDS = 3


@idempotent_step(validate="[amount, currency]")
def charge_payment(*, command: Command) -> dict[str, Any]:
    order_id = commands.required(command, "orderId", str)
    amount = commands.positive_int(command, "amount")
    currency = commands.currency(command)
    token = commands.required(command, "token", str)

    stored = repository.get_payment(order_id)
    if stored is not None:  # a replay after the idempotency record expired: answer as the first time
        return _answer(stored)

    provider = payment_provider()
    try:
        charge_id = provider.charge(idempotency_key=order_id, token=token, amount=amount, currency=currency)
    except PaymentDeclined as declined:
        repository.record(Payment(order_id, PaymentStatus.DECLINED, amount, currency, decline_reason=str(declined)))
        metrics.add_metric(name="PaymentDeclines", unit=MetricUnit.Count, value=1)
        raise

    payment = Payment(order_id, PaymentStatus.CAPTURED, amount, currency, charge_id=charge_id)
    stored = repository.record(payment)
    if stored is None:
        logger.info("payment captured", extra={"paymentId": payment.payment_id, "amount": amount, "currency": currency})
        return payment.to_dict()
    if stored.status is PaymentStatus.CAPTURED:  # a concurrent duplicate recorded the same charge first
        return stored.to_dict()
    # The saga's refund got there while the provider was charging: give the money back now.
    provider.refund(charge_id, amount)
    logger.warning("charge landed after its refund; refunded it", extra={"paymentId": payment.payment_id})
    raise PaymentCancelled(f"the payment of order {order_id} was cancelled while charging; the charge was refunded")


def _answer(stored: Payment) -> dict[str, Any]:
    match stored.status:
        case PaymentStatus.CAPTURED:
            return stored.to_dict()
        case PaymentStatus.DECLINED:
            raise PaymentDeclined(stored.decline_reason or "the card was declined")
        case _:
            raise PaymentCancelled(f"the payment of order {stored.order_id} was already {stored.status.lower()}")


@idempotent_step(validate="orderId")
def refund_payment(*, command: Command) -> dict[str, Any]:
    order_id = commands.required(command, "orderId", str)
    for _ in range(_REFUND_ROUNDS):
        payment = repository.get_payment(order_id)
        if payment is None:
            # Fence the order first: a charge still in flight must refund itself instead of capturing.
            if repository.record(Payment(order_id, PaymentStatus.CANCELLED, 0, None)) is None:
                return _refunded(_refund_unrecorded_charge(order_id))
        elif payment.status is PaymentStatus.CANCELLED:  # fenced before: this is a retry, perhaps of a refund that died
            return _refunded(_refund_unrecorded_charge(order_id))
        elif payment.status is PaymentStatus.CAPTURED:
            assert payment.charge_id is not None, "a CAPTURED payment always has its charge id"
            payment_provider().refund(payment.charge_id, payment.amount)  # idempotent per charge
            if repository.mark_refunded(order_id):
                logger.info("payment refunded", extra={"paymentId": payment.payment_id, "amount": payment.amount})
                return _refunded("REFUNDED")
        else:
            return _refunded("REFUNDED" if payment.status is PaymentStatus.REFUNDED else "NOTHING_TO_REFUND")
    raise ConcurrentUpdate(f"the payment of order {order_id} kept changing while being refunded")


def _refund_unrecorded_charge(order_id: str) -> str:
    """No payment was recorded, yet the provider may hold a charge: ChargePayment's invocation can die (a Lambda
    timeout, a crash) or fail (its write throttled) between the provider's capture and PAYMENT#<orderId>, and its
    retries can run out before one records it. The fence is written first, so no charge records itself from
    now on; ask the provider for a charge under the order's key and give it back (idempotent per charge)."""
    provider = payment_provider()
    charge = provider.find_charge(order_id)
    if charge is None:
        return "NOTHING_TO_REFUND"
    provider.refund(charge.charge_id, charge.amount)
    logger.warning("refunded a charge the payments table never recorded", extra={"chargeId": charge.charge_id})
    return "REFUNDED"


def _refunded(status: str) -> dict[str, Any]:
    return {"service": "payments", "status": status}
