"""Posting an order's sale to the double-entry ledger through the billing handler."""

from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from billing import handler
from billing.errors import InvoiceVoided
from billing.model import EntryKind, LedgerEntry, Posting, UnbalancedEntryError
from saga_common.ids import derived_id

from tests.conftest import LocalAws, read_event

ORDER = "ord_00000000000000000000000040"


def write_entry(context: Any, amount: int = 4498, payment_id: str = "pay_1") -> dict[str, Any]:
    event = {
        "action": "WriteLedgerEntry",
        "orderId": ORDER,
        "amount": amount,
        "currency": "USD",
        "paymentId": payment_id,
    }
    return handler.lambda_handler(event, context)


def contents(aws: LocalAws, logical_id: str) -> list[dict[str, Any]]:
    return sorted(aws.table(logical_id).scan(ConsistentRead=True)["Items"], key=str)


def ledger(aws: LocalAws, kind: str) -> dict[str, Any]:
    key = {"pk": f"ORDER#{ORDER}", "sk": f"LEDGER#{kind}"}
    return aws.table("BillingTable").get_item(Key=key).get("Item") or {}


def test_a_sale_debits_cash_and_credits_revenue(aws: LocalAws, lambda_context: Any) -> None:
    answer = write_entry(lambda_context)

    assert answer == {
        "entryId": derived_id("le", ORDER, "SALE"),
        "postings": [
            {"account": "cash", "debit": 4498, "credit": 0},
            {"account": "revenue", "debit": 0, "credit": 4498},
        ],
    }
    stored = ledger(aws, "SALE")
    assert (stored["entryId"], stored["kind"], stored["currency"], stored["paymentId"]) == (
        answer["entryId"],
        "SALE",
        "USD",
        "pay_1",
    )
    assert stored["postings"] == answer["postings"]
    assert sum(p["debit"] for p in stored["postings"]) == sum(p["credit"] for p in stored["postings"])


def test_a_replayed_sale_is_posted_once(aws: LocalAws, lambda_context: Any) -> None:
    first = write_entry(lambda_context)
    billing, records = contents(aws, "BillingTable"), contents(aws, "IdempotencyTable")

    assert write_entry(lambda_context) == first
    assert (contents(aws, "BillingTable"), contents(aws, "IdempotencyTable")) == (billing, records)

    for record in records:  # what the idempotency TTL does an hour later
        aws.table("IdempotencyTable").delete_item(Key={"id": record["id"]})
    assert write_entry(lambda_context) == first
    assert contents(aws, "BillingTable") == billing


def test_the_same_order_with_another_amount_is_refused(aws: LocalAws, lambda_context: Any) -> None:
    write_entry(lambda_context, amount=4498)

    with pytest.raises(IdempotencyValidationError):
        write_entry(lambda_context, amount=1)

    assert ledger(aws, "SALE")["postings"][0]["debit"] == 4498


def test_the_amount_is_validated_even_after_an_invoice_in_the_same_environment(
    aws: LocalAws, lambda_context: Any
) -> None:
    """Each step validates its own payload, whichever step this execution environment ran first."""
    handler.lambda_handler(read_event("billing-create-invoice.json"), lambda_context)
    event = read_event("billing-write-ledger-entry.json")
    handler.lambda_handler(event, lambda_context)

    with pytest.raises(IdempotencyValidationError):
        handler.lambda_handler({**event, "amount": event["amount"] + 1}, lambda_context)


def test_a_sale_arriving_after_the_void_is_not_posted(aws: LocalAws, lambda_context: Any) -> None:
    """The saga gave up on billing while writeLedgerEntry was still running."""
    handler.lambda_handler({"action": "VoidInvoice", "orderId": ORDER}, lambda_context)

    with pytest.raises(InvoiceVoided):
        write_entry(lambda_context)

    fence = ledger(aws, "SALE")  # the void took the sale's key: what is there posts nothing
    assert fence["fence"] is True
    assert "postings" not in fence


def test_an_unbalanced_entry_cannot_exist() -> None:
    with pytest.raises(UnbalancedEntryError, match="does not balance"):
        LedgerEntry(ORDER, EntryKind.SALE, (Posting("cash", 100, 0), Posting("revenue", 0, 99)), "USD", "pay_1")
    with pytest.raises(UnbalancedEntryError, match="negative"):
        LedgerEntry(ORDER, EntryKind.SALE, (Posting("cash", -1, 0), Posting("revenue", -1, 0)), "USD", "pay_1")


def test_the_sample_ledger_event_posts_a_balanced_sale(aws: LocalAws, lambda_context: Any) -> None:
    event = read_event("billing-write-ledger-entry.json")

    postings = handler.lambda_handler(event, lambda_context)["postings"]

    assert postings == [
        {"account": "cash", "debit": event["amount"], "credit": 0},
        {"account": "revenue", "debit": 0, "credit": event["amount"]},
    ]
