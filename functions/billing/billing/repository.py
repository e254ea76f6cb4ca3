"""The billing table: under `pk = ORDER#<orderId>`, `sk = INVOICE`, `LEDGER#SALE` and `LEDGER#REVERSAL`.

Every write is conditional, so each record is written once. Voiding is one transaction: the invoice
becomes VOID (or a VOID fence when none was issued, see `Invoice`), and the sale gets its reversing entry
or, when none was posted, a fence on the sale's own key. So a late invoice or sale finds its key taken and
each is one conditional put (a transaction checking the invoice too would cost four write units, not one).
"""

from typing import TYPE_CHECKING

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from saga_common.aws import table
from saga_common.clock import now
from saga_common.dynamodb import Item, cancellation_reasons, found_item, is_condition_failure, plain, transact_write

from billing.errors import BillingVoided
from billing.model import EntryKind, Invoice, InvoiceStatus, LedgerEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

INVOICE = "INVOICE"
SALE_FENCE = "fence"  # on the sale's key, written by a void that found no sale: no sale may be posted


def _table() -> "Table":
    return table("BILLING_TABLE")


def _pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def _ledger_sk(kind: EntryKind) -> str:
    return f"LEDGER#{kind.value}"


def get_billing(order_id: str) -> tuple[Invoice | None, LedgerEntry | None, LedgerEntry | None]:
    """The order's invoice, sale entry and reversal entry, each None when not written."""
    response = _table().query(KeyConditionExpression=Key("pk").eq(_pk(order_id)), ConsistentRead=True)
    items = {item["sk"]: plain(item) for item in response["Items"]}  # at most three: one page
    invoice = items.get(INVOICE)
    sale, reversal = items.get(_ledger_sk(EntryKind.SALE)), items.get(_ledger_sk(EntryKind.REVERSAL))
    return (
        Invoice.from_item(invoice) if invoice else None,
        LedgerEntry.from_item(sale) if sale and not sale.get(SALE_FENCE) else None,
        LedgerEntry.from_item(reversal) if reversal else None,
    )


def _invoice_item(invoice: Invoice) -> Item:
    return {"pk": _pk(invoice.order_id), "sk": INVOICE, **invoice.to_item(), "issuedAt": now()}


def _entry_item(entry: LedgerEntry) -> Item:
    return {"pk": _pk(entry.order_id), "sk": _ledger_sk(entry.kind), **entry.to_item(), "postedAt": now()}


def put_invoice(invoice: Invoice) -> Invoice | None:
    """Write the order's invoice once. None when written; otherwise the invoice already there."""
    try:
        _table().put_item(
            Item=_invoice_item(invoice),
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if is_condition_failure(error) and (stored := found_item(error)):
            return Invoice.from_item(stored)
        raise
    return None


def post_sale(entry: LedgerEntry) -> LedgerEntry | None:
    """Write the order's sale entry once, unless its billing was voided (raises BillingVoided).

    None when written; otherwise the sale entry already there.
    """
    try:
        _table().put_item(
            Item=_entry_item(entry),
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if is_condition_failure(error) and (stored := found_item(error)):
            if stored.get(SALE_FENCE):
                raise BillingVoided(entry.order_id) from None
            return LedgerEntry.from_item(stored)
        raise
    return None


def void(order_id: str, invoice: Invoice | None, sale: LedgerEntry | None) -> bool:
    """In one transaction: the invoice becomes VOID (a fence if none was issued) and the sale, if
    any, gets its reversing entry. False when the records changed since they were read: nothing
    was written, read them again."""
    name = _table().name
    key = {"pk": _pk(order_id), "sk": INVOICE}
    void_invoice: TransactWriteItemTypeDef
    if invoice is None:
        void_invoice = {
            "Put": {
                "TableName": name,
                "Item": {**key, "orderId": order_id, "status": InvoiceStatus.VOID.value, "voidedAt": now()},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
    else:
        void_invoice = {
            "Update": {
                "TableName": name,
                "Key": key,
                "UpdateExpression": "SET #status = :void, voidedAt = :now",
                "ConditionExpression": "#status = :issued",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":void": InvoiceStatus.VOID.value,
                    ":issued": InvoiceStatus.ISSUED.value,
                    ":now": now(),
                },
            }
        }
    reverse_sale: TransactWriteItemTypeDef
    if sale is None:  # a sale posted after the read makes this fail (not go unreversed); the fence keeps out later ones
        reverse_sale = {
            "Put": {
                "TableName": name,
                "Item": {
                    "pk": _pk(order_id),
                    "sk": _ledger_sk(EntryKind.SALE),
                    "orderId": order_id,
                    SALE_FENCE: True,
                    "voidedAt": now(),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
    else:
        reverse_sale = {
            "Put": {
                "TableName": name,
                "Item": _entry_item(sale.reversal()),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
    try:
        transact_write(_table().meta.client, [void_invoice, reverse_sale])
    except ClientError as error:
        if any(reason.condition_failed for reason in cancellation_reasons(error) or []):
            return False
        raise
    return True
