"""Voiding an order's billing (the saga's compensation): the invoice and the reversing ledger entry."""

from collections import Counter
from typing import Any

import pytest
from billing import handler

from tests.conftest import LocalAws, read_event

ORDER = "ord_00000000000000000000000050"
LINE = {"sku": "SKU-1", "name": "Espresso beans", "quantity": 2, "unitPrice": 1999, "lineTotal": 3998}


def invoke(context: Any, action: str, **fields: Any) -> dict[str, Any]:
    return handler.lambda_handler({"action": action, "orderId": ORDER, **fields}, context)


def create_invoice(context: Any) -> None:
    invoke(context, "CreateInvoice", customerId="cus_1", items=[LINE], total=3998, currency="USD", paymentId="pay_1")


def write_entry(context: Any) -> None:
    invoke(context, "WriteLedgerEntry", amount=3998, currency="USD", paymentId="pay_1")


def void(context: Any) -> str:
    return str(invoke(context, "VoidInvoice")["status"])


def records(aws: LocalAws, order_id: str = ORDER) -> dict[str, dict[str, Any]]:
    items = aws.table("BillingTable").scan(ConsistentRead=True)["Items"]
    return {item["sk"]: item for item in items if item["pk"] == f"ORDER#{order_id}"}


def balances(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Debit minus credit per account over the entries."""
    balance: Counter[str] = Counter()
    for entry in entries:
        for posting in entry["postings"]:
            balance[posting["account"]] += posting["debit"] - posting["credit"]
    return dict(balance)


def forget_idempotency_records(aws: LocalAws) -> None:
    """What the idempotency table's TTL does an hour later: only the service's own table remembers."""
    table = aws.table("IdempotencyTable")
    for record in table.scan()["Items"]:
        table.delete_item(Key={"id": record["id"]})


def test_void_voids_the_invoice_and_reverses_the_sale_to_zero(aws: LocalAws, lambda_context: Any) -> None:
    create_invoice(lambda_context)
    write_entry(lambda_context)

    assert invoke(lambda_context, "VoidInvoice") == {"service": "billing", "status": "VOIDED"}

    stored = records(aws)
    assert stored["INVOICE"]["status"] == "VOID"
    sale, reversal = stored["LEDGER#SALE"], stored["LEDGER#REVERSAL"]
    assert reversal["postings"] == [
        {"account": "cash", "debit": 0, "credit": 3998},
        {"account": "revenue", "debit": 3998, "credit": 0},
    ]
    assert balances([reversal]) == {"cash": -3998, "revenue": 3998}  # balanced on its own
    assert sum(balances([reversal]).values()) == 0
    assert balances([sale, reversal]) == {"cash": 0, "revenue": 0}  # the order nets to zero


@pytest.mark.parametrize(
    ("written", "expected_records"),
    [
        (["invoice"], {"INVOICE", "LEDGER#SALE"}),  # the sale's key fenced: nothing to reverse, nothing to come
        (["ledger"], {"INVOICE", "LEDGER#SALE", "LEDGER#REVERSAL"}),
    ],
)
def test_void_undoes_whichever_of_the_two_was_written(
    aws: LocalAws, lambda_context: Any, written: list[str], expected_records: set[str]
) -> None:
    if "invoice" in written:
        create_invoice(lambda_context)
    if "ledger" in written:
        write_entry(lambda_context)

    assert void(lambda_context) == "VOIDED"

    stored = records(aws)
    assert set(stored) == expected_records
    assert stored["INVOICE"]["status"] == "VOID"
    entries = [v for k, v in stored.items() if k.startswith("LEDGER#") and "postings" in v]
    assert balances(entries) in ({}, {"cash": 0, "revenue": 0})


def test_void_with_nothing_written_has_nothing_to_void(aws: LocalAws, lambda_context: Any) -> None:
    assert void(lambda_context) == "NOTHING_TO_VOID"
    assert void(lambda_context) == "NOTHING_TO_VOID"
    forget_idempotency_records(aws)
    assert void(lambda_context) == "NOTHING_TO_VOID"

    stored = records(aws)
    assert set(stored) == {"INVOICE", "LEDGER#SALE"}  # only the fences that keep late writes out
    assert stored["LEDGER#SALE"]["fence"] is True


def test_voiding_twice_reverses_once(aws: LocalAws, lambda_context: Any) -> None:
    create_invoice(lambda_context)
    write_entry(lambda_context)
    void(lambda_context)
    after_first = records(aws)

    assert void(lambda_context) == "VOIDED"
    forget_idempotency_records(aws)
    assert void(lambda_context) == "VOIDED"

    assert records(aws) == after_first


def test_voiding_one_order_leaves_the_others_issued(aws: LocalAws, lambda_context: Any) -> None:
    other = "ord_00000000000000000000000051"
    create_invoice(lambda_context)
    handler.lambda_handler(
        {"action": "CreateInvoice", "orderId": other, "customerId": "cus_2", "items": [LINE], "total": 3998,
         "currency": "USD", "paymentId": "pay_2"},
        lambda_context,
    )  # fmt: skip

    void(lambda_context)

    assert records(aws, other)["INVOICE"]["status"] == "ISSUED"


def test_the_sample_events_bill_and_void_an_order(aws: LocalAws, lambda_context: Any) -> None:
    handler.lambda_handler(read_event("billing-create-invoice.json"), lambda_context)
    handler.lambda_handler(read_event("billing-write-ledger-entry.json"), lambda_context)

    assert handler.lambda_handler(read_event("billing-void-invoice.json"), lambda_context) == {
        "service": "billing",
        "status": "VOIDED",
    }
    stored = records(aws, read_event("billing-void-invoice.json")["orderId"])
    assert balances([stored["LEDGER#SALE"], stored["LEDGER#REVERSAL"]]) == {"cash": 0, "revenue": 0}
