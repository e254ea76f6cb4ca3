"""Refunding an order's payment (the saga's compensation) through the payments handler."""

from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from payments import handler, repository
from payments.errors import PaymentCancelled, PaymentDeclined
from payments.simulator import SimulatedProvider
from saga_common.observability import metrics

from tests.support.aws import LocalAws
from tests.support.events import read_event

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


class Killed(BaseException):
    """The invocation's process killed mid-handler (a Lambda timeout, an out-of-memory kill): a BaseException,
    so that nothing in the handler, Powertools included, gets to clean up. Its idempotency record stays
    IN_PROGRESS, as after a real kill."""


def provider_charges(aws: LocalAws) -> list[tuple[str, Any]]:
    """(status, refunded amount) of every charge the simulated provider holds."""
    items = aws.table("PaymentsTable").scan(ConsistentRead=True)["Items"]
    return [(i["status"], i.get("refundedAmount")) for i in items if i["pk"].startswith("SIMULATOR#CHARGE#")]


def charge_dying_before_its_record(context: Any, monkeypatch: pytest.MonkeyPatch, death: BaseException) -> None:
    """ChargePayment captures at the provider, then `death` strikes before PAYMENT#<order> is written."""
    record = repository.record

    def dying(payment: Any) -> Any:
        if payment.status == "CAPTURED":
            raise death
        return record(payment)

    with monkeypatch.context() as patched:
        patched.setattr(repository, "record", dying)
        with pytest.raises(type(death)):
            charge(context)


def test_a_charge_killed_between_the_provider_and_its_record_is_refunded(
    aws: LocalAws, provider_calls: list[str], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chaos run's not_undone order: ChargePayment's invocation captured at the provider, then died before
    writing PAYMENT#<order>; its retry did not write it either; the saga compensated with RefundPayment, which
    found no payment record, answered NOTHING_TO_REFUND and left the customer charged."""
    charge_dying_before_its_record(lambda_context, monkeypatch, Killed())
    assert payment(aws) == {}  # the provider charged; the payments table never heard of it

    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "REFUNDED"}

    assert provider_charges(aws) == [("REFUNDED", 4200)]
    assert payment(aws)["status"] == "CANCELLED"  # the fence
    assert provider_calls == ["charge", "refund"]
    forget_idempotency_records(aws)  # the dead charge's IN_PROGRESS record expired with its invocation
    with pytest.raises(PaymentCancelled):  # a charge retried late cannot capture again
        charge(lambda_context)
    assert provider_calls == ["charge", "refund"]


def test_a_charge_failing_to_record_after_the_provider_is_refunded(
    aws: LocalAws, provider_calls: list[str], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same hole without a kill: the payment record's write raises (say DynamoDB throttled past the SDK's
    retries), Powertools deletes its record, the saga's retries run out and it compensates."""
    charge_dying_before_its_record(lambda_context, monkeypatch, TimeoutError("throttled"))

    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "REFUNDED"}
    assert provider_charges(aws) == [("REFUNDED", 4200)]


def test_a_refund_retried_after_dying_between_its_fence_and_the_providers_refund_refunds(
    aws: LocalAws, provider_calls: list[str], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RefundPayment wrote the fence, then died before giving the unrecorded charge back: its retry finds the
    fence (CANCELLED) and must still ask the provider."""
    charge_dying_before_its_record(lambda_context, monkeypatch, Killed())

    def killed(self: SimulatedProvider, charge_id: str, amount: int) -> None:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(SimulatedProvider, "refund", killed)
        with pytest.raises(Killed):
            invoke(lambda_context, "RefundPayment")
    assert payment(aws)["status"] == "CANCELLED"
    forget_idempotency_records(aws)  # the dead invocation's IN_PROGRESS record expired

    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "REFUNDED"}
    assert provider_charges(aws) == [("REFUNDED", 4200)]


def test_a_refund_killed_between_its_record_and_its_reply_answers_the_same_when_retried(
    aws: LocalAws, provider_calls: list[str], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refunded and recorded, then the reply was lost: the retry is refused as in progress while the dead
    invocation's record lives, then answers REFUNDED without asking the provider again."""
    charge(lambda_context)
    mark_refunded = repository.mark_refunded

    def mark_then_die(order_id: str) -> bool:
        mark_refunded(order_id)
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(repository, "mark_refunded", mark_then_die)
        with pytest.raises(Killed):
            invoke(lambda_context, "RefundPayment")
    assert payment(aws)["status"] == "REFUNDED"

    with pytest.raises(IdempotencyAlreadyInProgressError):
        invoke(lambda_context, "RefundPayment")
    forget_idempotency_records(aws)  # the IN_PROGRESS record expired with the dead invocation

    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "REFUNDED"}
    assert provider_calls == ["charge", "refund"]


def test_a_duplicate_refund_delivered_while_the_first_is_in_flight_refunds_once(
    aws: LocalAws, provider_calls: list[str], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    charge(lambda_context)
    refund = SimulatedProvider.refund  # provider_calls' spy

    def refund_meeting_its_duplicate(self: SimulatedProvider, charge_id: str, amount: int) -> None:
        with pytest.raises(IdempotencyAlreadyInProgressError):  # technical: Step Functions retries it
            invoke(lambda_context, "RefundPayment")
        refund(self, charge_id, amount)

    monkeypatch.setattr(SimulatedProvider, "refund", refund_meeting_its_duplicate)

    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "REFUNDED"}
    assert invoke(lambda_context, "RefundPayment") == {"service": "payments", "status": "REFUNDED"}  # its retry
    assert provider_calls == ["charge", "refund"]
    assert (provider_charge(aws)["status"], provider_charge(aws)["refundedAmount"]) == ("REFUNDED", 4200)
