"""The billing table: one item per order, `pk = ORDER#<orderId>`, `sk = INVOICE`.

The item is the invoice with its ledger entries as maps: `sale`, written with the invoice, and `reversal`,
written by its void. So billing an order is one conditional put (the invoice and its sale exist together or not
at all), and voiding it is one conditional write: the invoice becomes VOID with the reversing entry, or, when
nothing was billed, a VOID fence takes the key so that a late BillOrder finds it and bills nothing.
Every write asks for ReturnValuesOnConditionCheckFailure=ALL_OLD: a write that finds the key taken says what
is there without another read, which is what makes each step idempotent.
"""

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from saga_common.aws import table
from saga_common.clock import now
from saga_common.dynamodb import Item, found_item, is_condition_failure, plain

from billing.errors import BillingChanged
from billing.model import Invoice, InvoiceStatus, LedgerEntry
from billing.settings import settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

INVOICE = "INVOICE"


def _table() -> "Table":
    return table(settings().billing_table)


def _key(order_id: str) -> Item:
    return {"pk": f"ORDER#{order_id}", "sk": INVOICE}


def _entry(entry: LedgerEntry, at: str) -> Item:
    return {**entry.to_item(), "postedAt": at}


def get_invoice(order_id: str) -> Invoice | None:
    """The order's invoice with its entries (a VOID fence if voided before billing); None when not written."""
    item = _table().get_item(Key=_key(order_id), ConsistentRead=True).get("Item")
    return Invoice.from_item(plain(item)) if item else None


def put_invoice(invoice: Invoice) -> Invoice | None:
    """Write the order's invoice and its sale entry once, in one conditional put.

    None when written; otherwise the invoice already there (issued, voided, or a void's fence).
    """
    issued = now()
    item = {**_key(invoice.order_id), **invoice.to_item(), "issuedAt": issued}
    if invoice.sale is not None:
        item["sale"] = _entry(invoice.sale, issued)
    try:
        _table().put_item(
            Item=item, ConditionExpression="attribute_not_exists(pk)", ReturnValuesOnConditionCheckFailure="ALL_OLD"
        )
    except ClientError as error:
        if is_condition_failure(error) and (stored := found_item(error)):
            return Invoice.from_item(stored)
        raise
    return None


def void(order_id: str, invoice: Invoice | None) -> None:
    """One conditional write: the ISSUED `invoice` becomes VOID with its sale's reversing entry, or, when `invoice`
    is None, a VOID fence takes the order's key. Raises BillingChanged, with what is there now, when the item is no
    longer what was read: nothing was written."""
    try:
        if invoice is None:
            _put_fence(order_id)
        else:
            _void_issued(invoice)
    except ClientError as error:
        if is_condition_failure(error):
            stored = found_item(error)
            raise BillingChanged(Invoice.from_item(stored) if stored else None) from None
        raise


def _put_fence(order_id: str) -> None:
    _table().put_item(
        Item={**_key(order_id), "orderId": order_id, "status": InvoiceStatus.VOID.value, "voidedAt": now()},
        ConditionExpression="attribute_not_exists(pk)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def _void_issued(invoice: Invoice) -> None:
    voided = now()
    values: dict[str, Any] = {":void": InvoiceStatus.VOID.value, ":issued": InvoiceStatus.ISSUED.value, ":now": voided}
    update = "SET #status = :void, voidedAt = :now"
    if invoice.sale is not None:  # always: the sale is written with the invoice
        update += ", reversal = :reversal"
        values[":reversal"] = _entry(invoice.sale.reversal(), voided)
    _table().update_item(
        Key=_key(invoice.order_id),
        UpdateExpression=update,
        ConditionExpression="#status = :issued",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=values,
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
