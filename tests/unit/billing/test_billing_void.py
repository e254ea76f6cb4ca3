"""Voiding an order's billing (the saga's compensation): the invoice and the reversing ledger entry.

VoidInvoice keeps no idempotency record either: it reads the order's billing item and makes one conditional write
to it, whose failed condition hands back what a concurrent write left. Each way a step can be delivered again has
its test here, and so has each race with BillOrder: a void that runs before or during billing leaves no revenue
posted and no live invoice.
"""

import threading
from collections import Counter
from typing import Any

import pytest
from billing import handler, repository
from billing.errors import InvoiceVoided
from saga_common.observability import logger

from tests.support.aws import LocalAws
from tests.support.events import read_event

ORDER = "ord_00000000000000000000000050"
LINE = {"sku": "SKU-1", "name": "Espresso beans", "quantity": 2, "unitPrice": 1999, "lineTotal": 3998}


def invoke(context: Any, action: str, **fields: Any) -> dict[str, Any]:
    return handler.lambda_handler({"action": action, "orderId": ORDER, **fields}, context)


def bill_order(context: Any, order_id: str = ORDER) -> dict[str, Any]:
    event = {"action": "BillOrder", "orderId": order_id, "customerId": "cus_1", "items": [LINE], "total": 3998,
             "currency": "USD", "paymentId": "pay_1"}  # fmt: skip
    return handler.lambda_handler(event, context)


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


def assert_nothing_billed(aws: LocalAws, order_id: str = ORDER) -> None:
    """No live invoice and no revenue: the order's billing is VOID, and a sale, if any, is reversed to zero."""
    stored = records(aws, order_id)
    assert set(stored) == {"INVOICE"}
    billing = stored["INVOICE"]
    assert billing["status"] == "VOID"
    if "sale" in billing:
        assert balances([billing["sale"], billing["reversal"]]) == {"cash": 0, "revenue": 0}
    else:
        assert "reversal" not in billing


def test_void_voids_the_invoice_and_reverses_the_sale_to_zero(aws: LocalAws, lambda_context: Any) -> None:
    bill_order(lambda_context)

    assert invoke(lambda_context, "VoidInvoice") == {"service": "billing", "status": "VOIDED"}

    stored = records(aws)["INVOICE"]
    assert stored["status"] == "VOID"
    sale, reversal = stored["sale"], stored["reversal"]
    assert reversal["kind"] == "REVERSAL"
    assert reversal["postings"] == [
        {"account": "cash", "debit": 0, "credit": 3998},
        {"account": "revenue", "debit": 3998, "credit": 0},
    ]
    assert balances([reversal]) == {"cash": -3998, "revenue": 3998}  # balanced on its own
    assert sum(balances([reversal]).values()) == 0
    assert balances([sale, reversal]) == {"cash": 0, "revenue": 0}  # the order nets to zero
    assert aws.table("IdempotencyTable").scan()["Items"] == []  # no idempotency record


def test_void_with_nothing_billed_fences_the_order(aws: LocalAws, lambda_context: Any) -> None:
    assert void(lambda_context) == "NOTHING_TO_VOID"
    assert void(lambda_context) == "NOTHING_TO_VOID"

    fence = records(aws)["INVOICE"]  # only the fence that keeps a late BillOrder out
    assert fence["status"] == "VOID"
    assert {"invoiceId", "sale", "reversal"}.isdisjoint(fence)
    assert_nothing_billed(aws)


def test_a_void_replayed_after_success_answers_the_same_and_reverses_once(aws: LocalAws, lambda_context: Any) -> None:
    bill_order(lambda_context)
    assert void(lambda_context) == "VOIDED"
    after_first = records(aws)

    assert void(lambda_context) == "VOIDED"
    assert void(lambda_context) == "VOIDED"

    assert records(aws) == after_first


def test_a_void_replayed_after_a_crash_between_the_write_and_the_reply_answers_the_same(
    aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bill_order(lambda_context)

    def crash(*_: Any, **__: Any) -> None:  # the step's first line after its write
        raise RuntimeError("crashed")

    with monkeypatch.context() as patch:
        patch.setattr(logger, "info", crash)  # the same object as billing.service.logger
        with pytest.raises(RuntimeError, match="crashed"):
            void(lambda_context)
    after_crash = records(aws)
    assert after_crash["INVOICE"]["status"] == "VOID"

    assert void(lambda_context) == "VOIDED"
    assert records(aws) == after_crash


@pytest.mark.parametrize("billed", [True, False], ids=["billed", "nothing billed"])
def test_a_duplicate_concurrent_void_writes_once(aws: LocalAws, lambda_context: Any, billed: bool) -> None:
    if billed:
        bill_order(lambda_context)
    start = threading.Barrier(2)
    answers: list[str] = []

    def deliver() -> None:
        start.wait()
        answers.append(void(lambda_context))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == ["VOIDED" if billed else "NOTHING_TO_VOID"] * 2
    assert_nothing_billed(aws)


def test_a_bill_landing_between_the_voids_read_and_its_write_is_voided(
    aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The void read nothing, then BillOrder wrote: the void's fence finds the invoice, and it voids that instead."""
    read = repository.get_invoice

    def read_then_bill(order_id: str) -> Any:
        found = read(order_id)
        bill_order(lambda_context)
        return found

    monkeypatch.setattr(repository, "get_invoice", read_then_bill)

    assert void(lambda_context) == "VOIDED"

    assert_nothing_billed(aws)
    assert "sale" in records(aws)["INVOICE"]


def test_a_void_and_a_bill_at_the_same_time_leave_nothing_billed(aws: LocalAws, lambda_context: Any) -> None:
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def run_bill() -> None:
        start.wait()
        try:
            bill_order(lambda_context)
            outcomes.append("billed")
        except InvoiceVoided:
            outcomes.append("refused")

    def run_void() -> None:
        start.wait()
        outcomes.append(void(lambda_context))

    threads = [threading.Thread(target=run_bill), threading.Thread(target=run_void)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) in (["VOIDED", "billed"], ["NOTHING_TO_VOID", "refused"])
    assert_nothing_billed(aws)
    with pytest.raises(InvoiceVoided):  # and a late BillOrder is refused either way
        bill_order(lambda_context)


def test_voiding_one_order_leaves_the_others_issued(aws: LocalAws, lambda_context: Any) -> None:
    other = "ord_00000000000000000000000051"
    bill_order(lambda_context)
    bill_order(lambda_context, other)

    void(lambda_context)

    assert records(aws, other)["INVOICE"]["status"] == "ISSUED"
    assert "reversal" not in records(aws, other)["INVOICE"]


def test_the_sample_events_bill_and_void_an_order(aws: LocalAws, lambda_context: Any) -> None:
    handler.lambda_handler(read_event("billing-bill-order.json"), lambda_context)

    assert handler.lambda_handler(read_event("billing-void-invoice.json"), lambda_context) == {
        "service": "billing",
        "status": "VOIDED",
    }
    assert_nothing_billed(aws, read_event("billing-void-invoice.json")["orderId"])
