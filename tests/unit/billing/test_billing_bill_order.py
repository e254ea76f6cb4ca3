"""Billing an order through the billing handler: its invoice and the sale of its total, in one conditional write.

BillOrder keeps no idempotency record: its one conditional put is what makes it idempotent. Each way a step can
be delivered again has its test here: a replay after success, a replay after a crash between the write and the
reply, a duplicate delivered at the same time, and a replay that disagrees with what was billed.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from billing import handler
from billing.errors import InvoiceVoided, UnbalancedEntryError
from billing.model import EntryKind, LedgerEntry, Posting
from billing.settings import settings
from saga_common import aws as saga_aws
from saga_common.errors import InvalidCommand
from saga_common.ids import derived_id
from saga_common.observability import logger

from tests.support.aws import LocalAws
from tests.support.events import read_event

ORDER = "ord_00000000000000000000000030"
LINES = [
    {"sku": "SKU-1", "name": "Espresso beans", "quantity": 2, "unitPrice": 1999, "lineTotal": 3998},
    {"sku": "SKU-2", "name": "Dripper", "quantity": 1, "unitPrice": 500, "lineTotal": 500},
]
POSTINGS = [{"account": "cash", "debit": 4498, "credit": 0}, {"account": "revenue", "debit": 0, "credit": 4498}]
ANSWER = {
    "invoiceId": derived_id("inv", ORDER),
    "status": "ISSUED",
    "entryId": derived_id("le", ORDER, "SALE"),
    "postings": POSTINGS,
}


def bill_order(context: Any, **changes: Any) -> dict[str, Any]:
    event = {
        "action": "BillOrder",
        "orderId": ORDER,
        "customerId": "cus_1",
        "items": LINES,
        "total": 4498,
        "currency": "USD",
        "paymentId": "pay_1",
        **changes,
    }
    return handler.lambda_handler(event, context)


def contents(aws: LocalAws, logical_id: str) -> list[dict[str, Any]]:
    return sorted(aws.table(logical_id).scan(ConsistentRead=True)["Items"], key=str)


def invoice(aws: LocalAws) -> dict[str, Any]:
    return aws.table("BillingTable").get_item(Key={"pk": f"ORDER#{ORDER}", "sk": "INVOICE"}).get("Item") or {}


@contextmanager
def dynamodb_writes() -> Iterator[list[str]]:
    """The DynamoDB write operations the billing code sends while the block runs (failed ones included)."""
    writes: list[str] = []

    def record(model: Any, **_: Any) -> None:
        if model.name in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"):
            writes.append(model.name)

    events = saga_aws.table(settings().billing_table).meta.client.meta.events
    events.register("before-call.dynamodb.*", record)
    try:
        yield writes
    finally:
        events.unregister("before-call.dynamodb.*", record)


def test_an_order_is_billed_with_its_invoice_and_its_sale_in_one_write(aws: LocalAws, lambda_context: Any) -> None:
    with dynamodb_writes() as writes:
        answer = bill_order(lambda_context)

    assert answer == ANSWER
    assert writes == ["PutItem"]
    stored = invoice(aws)
    assert {name: stored[name] for name in ("invoiceId", "status", "total", "currency", "customerId", "paymentId")} == {
        "invoiceId": answer["invoiceId"],
        "status": "ISSUED",
        "total": 4498,
        "currency": "USD",
        "customerId": "cus_1",
        "paymentId": "pay_1",
    }
    assert stored["lines"] == LINES
    sale = stored["sale"]
    assert (sale["entryId"], sale["kind"], sale["currency"], sale["paymentId"]) == (
        answer["entryId"],
        "SALE",
        "USD",
        "pay_1",
    )
    assert sale["postings"] == POSTINGS  # cash debited, revenue credited: balanced
    assert contents(aws, "BillingTable") == [stored]  # one item per order
    assert contents(aws, "IdempotencyTable") == []  # no idempotency record: the conditional put is enough


def test_a_replay_after_success_answers_the_same_and_writes_nothing(aws: LocalAws, lambda_context: Any) -> None:
    first = bill_order(lambda_context)
    billed = contents(aws, "BillingTable")

    with dynamodb_writes() as writes:
        assert bill_order(lambda_context) == first

    assert writes == ["PutItem"]  # the one conditional put, which finds the invoice and hands it back
    assert contents(aws, "BillingTable") == billed


def test_a_replay_after_a_crash_between_the_write_and_the_reply_answers_the_same(
    aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt wrote, then died before answering (a timeout, a crash): the retry finds its write."""

    def crash(*_: Any, **__: Any) -> None:  # the step's first line after its write
        raise RuntimeError("crashed")

    with monkeypatch.context() as patch:
        patch.setattr(logger, "info", crash)  # the same object as billing.service.logger
        with pytest.raises(RuntimeError, match="crashed"):
            bill_order(lambda_context)
    billed = contents(aws, "BillingTable")
    assert billed[0]["status"] == "ISSUED"

    assert bill_order(lambda_context) == ANSWER
    assert contents(aws, "BillingTable") == billed


def test_a_duplicate_concurrent_delivery_writes_once(aws: LocalAws, lambda_context: Any) -> None:
    start = threading.Barrier(2)
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        start.wait()
        try:
            answers.append(bill_order(lambda_context))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert answers == [ANSWER, ANSWER]
    assert len(contents(aws, "BillingTable")) == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"items": LINES[:1], "total": 3998},
        {"paymentId": "pay_2"},
        {"currency": "EUR"},
        {"customerId": "cus_2"},
    ],
    ids=["other items and total", "other payment", "other currency", "other customer"],
)
def test_a_replay_that_disagrees_with_what_was_billed_is_refused(
    aws: LocalAws, lambda_context: Any, changes: dict[str, Any]
) -> None:
    """What Powertools' payload validation did: the same order billed with another amount never succeeds."""
    bill_order(lambda_context)
    billed = contents(aws, "BillingTable")

    with pytest.raises(InvalidCommand, match="already billed differently"):
        bill_order(lambda_context, **changes)

    assert contents(aws, "BillingTable") == billed
    assert invoice(aws)["total"] == 4498


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"total": 4499}, "total must be the sum of the items' lineTotal"),
        ({"items": [{**LINES[0], "lineTotal": 1}]}, r"items\[0\]\.lineTotal must be unitPrice x quantity"),
        ({"items": []}, "items must not be empty"),
        ({"currency": "dollars"}, "ISO 4217"),
        ({"paymentId": None}, "paymentId must be of type str"),
        ({"orderId": None}, "orderId must be of type str"),
    ],
)
def test_a_bill_that_does_not_add_up_is_refused(
    aws: LocalAws, lambda_context: Any, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidCommand, match=message):
        bill_order(lambda_context, **changes)
    assert contents(aws, "BillingTable") == []


def test_a_bill_arriving_after_the_void_issues_and_posts_nothing(aws: LocalAws, lambda_context: Any) -> None:
    """The saga gave up on billing while BillOrder was still running: the void's fence refuses it."""
    assert handler.lambda_handler({"action": "VoidInvoice", "orderId": ORDER}, lambda_context)["status"] == (
        "NOTHING_TO_VOID"
    )

    with pytest.raises(InvoiceVoided):
        bill_order(lambda_context)

    fence = invoice(aws)
    assert fence["status"] == "VOID"
    assert "invoiceId" not in fence
    assert "sale" not in fence


def test_a_replay_after_the_order_was_billed_and_voided_is_refused(aws: LocalAws, lambda_context: Any) -> None:
    bill_order(lambda_context)
    handler.lambda_handler({"action": "VoidInvoice", "orderId": ORDER}, lambda_context)
    voided = contents(aws, "BillingTable")

    with pytest.raises(InvoiceVoided):
        bill_order(lambda_context)

    assert contents(aws, "BillingTable") == voided


def test_an_unbalanced_entry_cannot_exist() -> None:
    with pytest.raises(UnbalancedEntryError, match="does not balance"):
        LedgerEntry(ORDER, EntryKind.SALE, (Posting("cash", 100, 0), Posting("revenue", 0, 99)), "USD", "pay_1")
    with pytest.raises(UnbalancedEntryError, match="negative"):
        LedgerEntry(ORDER, EntryKind.SALE, (Posting("cash", -1, 0), Posting("revenue", -1, 0)), "USD", "pay_1")


def test_the_sample_bill_order_event_issues_its_invoice_and_posts_a_balanced_sale(
    aws: LocalAws, lambda_context: Any
) -> None:
    event = read_event("billing-bill-order.json")

    assert handler.lambda_handler(event, lambda_context) == {
        "invoiceId": derived_id("inv", event["orderId"]),
        "status": "ISSUED",
        "entryId": derived_id("le", event["orderId"], "SALE"),
        "postings": [
            {"account": "cash", "debit": event["total"], "credit": 0},
            {"account": "revenue", "debit": 0, "credit": event["total"]},
        ],
    }
