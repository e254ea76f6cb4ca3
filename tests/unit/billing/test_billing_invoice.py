"""Issuing an order's invoice through the billing handler."""

from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from billing import handler
from billing.errors import InvoiceVoided
from saga_common.errors import InvalidCommand
from saga_common.ids import derived_id

from tests.conftest import LocalAws, read_event

ORDER = "ord_00000000000000000000000030"
LINES = [
    {"sku": "SKU-1", "name": "Espresso beans", "quantity": 2, "unitPrice": 1999, "lineTotal": 3998},
    {"sku": "SKU-2", "name": "Dripper", "quantity": 1, "unitPrice": 500, "lineTotal": 500},
]


def create_invoice(context: Any, **changes: Any) -> dict[str, Any]:
    event = {
        "action": "CreateInvoice",
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


def test_an_invoice_is_issued_with_the_priced_lines(aws: LocalAws, lambda_context: Any) -> None:
    answer = create_invoice(lambda_context)

    assert answer == {"invoiceId": derived_id("inv", ORDER), "status": "ISSUED"}
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


def test_a_replayed_invoice_is_the_same_invoice(aws: LocalAws, lambda_context: Any) -> None:
    first = create_invoice(lambda_context)
    billing, records = contents(aws, "BillingTable"), contents(aws, "IdempotencyTable")

    assert create_invoice(lambda_context) == first
    assert (contents(aws, "BillingTable"), contents(aws, "IdempotencyTable")) == (billing, records)

    for record in records:  # what the idempotency TTL does an hour later
        aws.table("IdempotencyTable").delete_item(Key={"id": record["id"]})
    assert create_invoice(lambda_context) == first
    assert contents(aws, "BillingTable") == billing


def test_the_same_order_with_another_total_is_refused(aws: LocalAws, lambda_context: Any) -> None:
    create_invoice(lambda_context)

    with pytest.raises(IdempotencyValidationError):
        create_invoice(lambda_context, items=LINES[:1], total=3998)

    assert invoice(aws)["total"] == 4498


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"total": 4499}, "total must be the sum of the items' lineTotal"),
        ({"items": [{**LINES[0], "lineTotal": 1}]}, r"items\[0\]\.lineTotal must be unitPrice x quantity"),
        ({"items": []}, "items must not be empty"),
        ({"currency": "dollars"}, "ISO 4217"),
        ({"paymentId": None}, "paymentId must be of type str"),
    ],
)
def test_an_invoice_that_does_not_add_up_is_refused(
    aws: LocalAws, lambda_context: Any, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidCommand, match=message):
        create_invoice(lambda_context, **changes)
    assert invoice(aws) == {}


def test_an_invoice_arriving_after_the_void_is_not_issued(aws: LocalAws, lambda_context: Any) -> None:
    """The saga gave up on billing while createInvoice was still running."""
    assert handler.lambda_handler({"action": "VoidInvoice", "orderId": ORDER}, lambda_context)["status"] == (
        "NOTHING_TO_VOID"
    )

    with pytest.raises(InvoiceVoided):
        create_invoice(lambda_context)

    assert invoice(aws)["status"] == "VOID"
    assert "invoiceId" not in invoice(aws)


def test_the_sample_create_invoice_event_issues_its_invoice(aws: LocalAws, lambda_context: Any) -> None:
    event = read_event("billing-create-invoice.json")

    assert handler.lambda_handler(event, lambda_context) == {
        "invoiceId": derived_id("inv", event["orderId"]),
        "status": "ISSUED",
    }
