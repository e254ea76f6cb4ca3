"""Billing's steps: bill the order (its invoice and the sale of its total to the ledger), and void that.

Ids derive from the order id and each step is one conditional write of the order's one billing item, which
makes it idempotent without an idempotency record: a retried, replayed or duplicated step finds what the first
wrote (the failed write hands it back) and answers the same, or refuses a command that disagrees with it.
"""

from typing import Any

from saga_common import commands
from saga_common.errors import ConcurrentUpdate, InvalidCommand
from saga_common.idempotency import Command
from saga_common.observability import logger

from billing import repository
from billing.errors import BillingChanged, InvoiceVoided
from billing.model import Invoice, InvoiceLine, InvoiceStatus

# Conditional writes VoidInvoice tries; each lost one means a concurrent write (a late BillOrder, another void)
# finished first, and its failed condition says what that left.
_VOID_ROUNDS = 3


def bill_order(*, command: Command) -> dict[str, Any]:
    """Issue the order's invoice and post its sale, in one conditional write."""
    order_id = commands.required(command, "orderId", str)
    lines = _invoice_lines(command)
    invoice = Invoice.issue(
        order_id=order_id,
        customer_id=commands.required(command, "customerId", str),
        lines=lines,
        total=_total(command, lines),
        currency=commands.currency(command),
        payment_id=commands.required(command, "paymentId", str),
    )
    stored = repository.put_invoice(invoice)
    if stored is None:
        logger.info("order billed", extra={"invoiceId": invoice.invoice_id, "total": invoice.total})
        return invoice.to_dict()
    if stored.status is InvoiceStatus.VOID:
        raise InvoiceVoided(f"the billing of order {order_id} was already voided; nothing issued or posted")
    if stored != invoice:  # the same order billed with other lines, total, currency, payment or customer
        raise InvalidCommand(f"order {order_id} was already billed differently; its invoice stands as issued")
    return stored.to_dict()


def _invoice_lines(command: Command) -> tuple[InvoiceLine, ...]:
    lines = []
    for at, item in commands.objects(command, "items", what="a priced line"):
        line = InvoiceLine(
            sku=commands.required(item, "sku", str, at=at),
            name=commands.required(item, "name", str, at=at),
            quantity=commands.positive_int(item, "quantity", at=at),
            unit_price=commands.positive_int(item, "unitPrice", at=at),
            line_total=commands.positive_int(item, "lineTotal", at=at),
        )
        if line.line_total != line.unit_price * line.quantity:
            raise InvalidCommand(f"{at}lineTotal must be unitPrice x quantity")
        lines.append(line)
    return tuple(lines)


def _total(command: Command, lines: tuple[InvoiceLine, ...]) -> int:
    total = commands.positive_int(command, "total")
    if total != sum(line.line_total for line in lines):  # an invoice has to add up
        raise InvalidCommand("total must be the sum of the items' lineTotal")
    return total


def void_invoice(*, command: Command) -> dict[str, Any]:
    """Void the order's invoice and reverse its sale; with nothing billed, fence the order so nothing will be."""
    order_id = commands.required(command, "orderId", str)
    invoice = repository.get_invoice(order_id)
    for _ in range(_VOID_ROUNDS):
        if invoice is not None and invoice.status is InvoiceStatus.VOID:
            return _voided("NOTHING_TO_VOID" if invoice.is_fence else "VOIDED")
        try:
            repository.void(order_id, invoice)
        except BillingChanged as changed:
            invoice = changed.found
            continue
        logger.info("billing voided", extra={"invoiced": invoice is not None})
        return _voided("NOTHING_TO_VOID" if invoice is None else "VOIDED")
    raise ConcurrentUpdate(f"the billing of order {order_id} kept changing while being voided")


def _voided(status: str) -> dict[str, Any]:
    return {"service": "billing", "status": status}
