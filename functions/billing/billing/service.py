"""Billing's steps: issue the order's invoice, post its sale to the ledger, and void both.

Ids derive from the order id and every write is conditional, so a retried or replayed step finds
what it wrote and answers the same.
"""

from typing import Any

from saga_common import commands
from saga_common.errors import ConcurrentUpdate, InvalidCommand
from saga_common.idempotency import Command, idempotent_step
from saga_common.observability import logger

from billing import repository
from billing.errors import BillingVoided, InvoiceVoided
from billing.model import Invoice, InvoiceLine, InvoiceStatus, LedgerEntry

# Rounds of read-then-transaction in VoidInvoice; each lost round means a late write finished
# first, so the next read sees it.
_VOID_ROUNDS = 3


@idempotent_step(validate="[items, total, paymentId]")
def create_invoice(*, command: Command) -> dict[str, Any]:
    order_id = commands.required(command, "orderId", str)
    lines = _invoice_lines(command)
    invoice = Invoice(
        order_id=order_id,
        status=InvoiceStatus.ISSUED,
        customer_id=commands.required(command, "customerId", str),
        lines=lines,
        total=_total(command, lines),
        currency=commands.currency(command),
        payment_id=commands.required(command, "paymentId", str),
    )
    stored = repository.put_invoice(invoice)
    if stored is None:
        logger.info("invoice issued", extra={"invoiceId": invoice.invoice_id, "total": invoice.total})
        return invoice.to_dict()
    if stored.status is InvoiceStatus.VOID:
        raise InvoiceVoided(f"the billing of order {order_id} was already voided; no invoice issued")
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


@idempotent_step(validate="[amount, paymentId]")
def write_ledger_entry(*, command: Command) -> dict[str, Any]:
    entry = LedgerEntry.sale(
        order_id=commands.required(command, "orderId", str),
        amount=commands.positive_int(command, "amount"),
        currency=commands.currency(command),
        payment_id=commands.required(command, "paymentId", str),
    )
    try:
        stored = repository.post_sale(entry)
    except BillingVoided:
        raise InvoiceVoided(f"the billing of order {entry.order_id} was already voided; nothing posted") from None
    if stored is None:
        logger.info("sale posted", extra={"entryId": entry.entry_id})
        return entry.to_dict()
    return stored.to_dict()


@idempotent_step(validate="orderId")
def void_invoice(*, command: Command) -> dict[str, Any]:
    order_id = commands.required(command, "orderId", str)
    for _ in range(_VOID_ROUNDS):
        invoice, sale, reversal = repository.get_billing(order_id)
        if invoice is not None and invoice.status is InvoiceStatus.VOID:
            return _voided("VOIDED" if not invoice.is_fence or reversal else "NOTHING_TO_VOID")
        # Void even when nothing was written: the VOID invoice keeps a late write from billing the order.
        if repository.void(order_id, invoice, sale):
            logger.info("billing voided", extra={"invoiced": invoice is not None, "reversed": sale is not None})
            return _voided("NOTHING_TO_VOID" if invoice is None and sale is None else "VOIDED")
    raise ConcurrentUpdate(f"the billing of order {order_id} kept changing while being voided")


def _voided(status: str) -> dict[str, Any]:
    return {"service": "billing", "status": status}
