"""Refunding an order's payment (the saga's compensation) through the payments handler."""

from typing import Any

import pytest
from payments import handler, repository
from payments.errors import PaymentCancelled, PaymentDeclined
from payments.simulator import SimulatedProvider
from saga_common.observability import metrics

from tests.conftest import LocalAws, read_event

ORDER = "ord_00000000000000000000000020"


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics read POWERTOOLS_METRICS_NAMESPACE when saga_common is imported: at test collection,
    before conftest sets the environment (a Lambda has it from the start)."""
    monkeypatch.setattr(metrics.provider, "namespace", "OrderSaga")


@pytest.fixture
def provider_calls(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call the service makes to the (simulated) provider, in order."""
    calls: list[str] = []
    charge, refund = SimulatedProvider.charge, SimulatedProvider.refund

    def spy_charge(self: SimulatedProvider, idempotency_key: str, token: str, amount: int, currency: str) -> str:
        calls.append("charge")
        return charge(self, idempotency_key, token, amount, currency)

    def spy_refund(self: SimulatedProvider, charge_id: str, amount: int) -> None:
        calls.append("refund")
        refund(self, charge_id, amount)

    monkeypatch.setattr(SimulatedProvider, "charge", spy_charge)
    monkeypatch.setattr(SimulatedProvider, "refund", spy_refund)
    return calls


def invoke(context: Any, action: str, **fields: Any) -> dict[str, Any]:
    return handler.lambda_handler({"action": action, "orderId": ORDER, **fields}, context)


def charge(context: Any, token: str = "tok_visa") -> dict[str, Any]:
    return invoke(context, "ChargePayment", amount=4200, currency="USD", token=token)


def payment(aws: LocalAws) -> dict[str, Any]:
    return aws.table("PaymentsTable").get_item(Key={"pk": f"PAYMENT#{ORDER}"}).get("Item") or {}


def provider_charge(aws: LocalAws) -> dict[str, Any]:
    return aws.table("PaymentsTable").get_item(Key={"pk": f"SIMULATOR#CHARGE#{payment(aws)['chargeId']}"})["Item"]


def forget_idempotency_records(aws: LocalAws) -> None:
    """What the idempotency table's TTL does an hour later: only the service's own table remembers."""
    table = aws.table("IdempotencyTable")
    for record in table.scan()["Items"]:
        table.delete_item(Key={"id": record["id"]})


def test_refund_after_charge_gives_the_money_back(
    aws: LocalAws, provider_calls: list[str], lambda_context: Any
) -> None:
    charge(lambda_context)

    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "REFUNDED"}

    assert payment(aws)["status"] == "REFUNDED"
    assert (provider_charge(aws)["status"], provider_charge(aws)["refundedAmount"]) == ("REFUNDED", 4200)
    assert provider_calls == ["charge", "refund"]


def test_refunding_twice_refunds_once(aws: LocalAws, provider_calls: list[str], lambda_context: Any) -> None:
    charge(lambda_context)
    invoke(lambda_context, "RefundPayment")

    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "REFUNDED"}
    forget_idempotency_records(aws)
    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "REFUNDED"}

    assert provider_calls == ["charge", "refund"]
    assert payment(aws)["status"] == "REFUNDED"


def test_a_refund_retried_after_a_failure_is_safe(
    aws: LocalAws, provider_calls: list[str], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider refunded, then recording it failed: the retry asks the provider again, harmlessly."""
    charge(lambda_context)

    def lost_write(order_id: str) -> bool:
        raise TimeoutError(order_id)

    with monkeypatch.context() as patched:
        patched.setattr(repository, "mark_refunded", lost_write)
        with pytest.raises(TimeoutError):
            invoke(lambda_context, "RefundPayment")

    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "REFUNDED"}
    assert (provider_charge(aws)["status"], provider_charge(aws)["refundedAmount"]) == ("REFUNDED", 4200)


def test_refund_without_a_charge_has_nothing_to_refund_and_fences_a_late_charge(
    aws: LocalAws, provider_calls: list[str], lambda_context: Any
) -> None:
    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "NOTHING_TO_REFUND"}
    assert payment(aws)["status"] == "CANCELLED"

    with pytest.raises(PaymentCancelled):
        charge(lambda_context)

    assert provider_calls == []  # the card was never charged
    forget_idempotency_records(aws)
    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "NOTHING_TO_REFUND"}


def test_refund_after_a_declined_charge_has_nothing_to_refund(
    aws: LocalAws, provider_calls: list[str], lambda_context: Any
) -> None:
    with pytest.raises(PaymentDeclined):
        charge(lambda_context, token="tok_chargeDeclined")

    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "NOTHING_TO_REFUND"}

    assert payment(aws)["status"] == "DECLINED"
    assert provider_calls == ["charge"]


def test_the_sample_refund_event_refunds_the_sample_charge(aws: LocalAws, lambda_context: Any) -> None:
    handler.lambda_handler(read_event("payments-charge.json"), lambda_context)

    assert handler.lambda_handler(read_event("payments-refund.json"), lambda_context) == {
        "service": "payments",
        "status": "REFUNDED",
    }
