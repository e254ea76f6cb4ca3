"""Charging an order through the payments handler and the shipped simulator provider."""

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from payments import handler, repository, service
from payments.errors import PaymentCancelled, PaymentDeclined, PaymentProviderUnavailable
from payments.simulator import SimulatedProvider
from saga_common.errors import InvalidCommand
from saga_common.ids import derived_id
from saga_common.observability import logger, metrics

from tests.support.aws import LocalAws
from tests.support.events import read_event

ORDER = "ord_00000000000000000000000010"


class CountingProvider(SimulatedProvider):
    """The simulator, counting how often the service really asked the provider."""

    def __init__(self) -> None:
        self.charges = 0
        self.refunds = 0

    def charge(self, idempotency_key: str, token: str, amount: int, currency: str) -> str:
        self.charges += 1
        return super().charge(idempotency_key, token, amount, currency)

    def refund(self, charge_id: str, amount: int) -> None:
        self.refunds += 1
        super().refund(charge_id, amount)


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics read POWERTOOLS_METRICS_NAMESPACE when saga_common is imported: at test collection,
    before conftest sets the environment (a Lambda has it from the start)."""
    monkeypatch.setattr(metrics.provider, "namespace", "OrderSaga")


@pytest.fixture
def provider(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> CountingProvider:
    counting = CountingProvider()
    monkeypatch.setattr(service, "payment_provider", lambda: counting)
    return counting


class _CurrentStdout:
    """Writes to whatever sys.stdout is at the time: capsys swaps it between test phases."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def stdout_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """The service's logs, at DEBUG, on the stdout capsys reads (the log handler was bound at import)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)  # Powertools logs to a stream (stdout)
    stream, level = handler.stream, logger.log_level
    handler.stream = _CurrentStdout()
    logger.setLevel("DEBUG")
    yield
    logger.setLevel(level)
    handler.stream = stream


def charge(context: Any, token: str = "tok_visa", amount: int = 5000, order_id: str = ORDER) -> dict[str, Any]:
    event = {"action": "ChargePayment", "orderId": order_id, "amount": amount, "currency": "USD", "token": token}
    return handler.lambda_handler(event, context)


def payment(aws: LocalAws, order_id: str = ORDER) -> dict[str, Any] | None:
    return aws.table("PaymentsTable").get_item(Key={"pk": f"PAYMENT#{order_id}"}).get("Item")


def contents(aws: LocalAws, logical_id: str) -> list[dict[str, Any]]:
    return sorted(aws.table(logical_id).scan(ConsistentRead=True)["Items"], key=str)


def forget_idempotency_records(aws: LocalAws) -> None:
    """What the idempotency table's TTL does an hour later: only the service's own table remembers."""
    for record in contents(aws, "IdempotencyTable"):
        aws.table("IdempotencyTable").delete_item(Key={"id": record["id"]})


def emitted_metrics(output: str) -> dict[str, Any]:
    """Metric name -> value from the CloudWatch EMF documents printed on stdout."""
    found: dict[str, Any] = {}
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                assert directive["Namespace"] == "OrderSaga"
                for metric in directive["Metrics"]:
                    found[metric["Name"]] = document[metric["Name"]]
    return found


def test_tok_visa_captures_the_amount_and_records_the_payment(
    aws: LocalAws, provider: CountingProvider, lambda_context: Any
) -> None:
    answer = charge(lambda_context, amount=5697)

    assert answer == {"paymentId": derived_id("pay", ORDER), "status": "CAPTURED", "amount": 5697, "currency": "USD"}
    stored = payment(aws) or {}
    assert (stored["status"], stored["amount"], stored["currency"]) == ("CAPTURED", 5697, "USD")
    assert stored["paymentId"] == answer["paymentId"]
    charge_record = aws.table("PaymentsTable").get_item(Key={"pk": f"SIMULATOR#CHARGE#{stored['chargeId']}"})["Item"]
    assert (charge_record["status"], charge_record["amount"]) == ("CAPTURED", 5697)
    assert provider.charges == 1


def test_a_declined_card_is_recorded_and_counted(
    aws: LocalAws, provider: CountingProvider, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(PaymentDeclined, match="declined by its issuer"):
        charge(lambda_context, token="tok_chargeDeclined")

    stored = payment(aws) or {}
    assert (stored["status"], stored["amount"], stored["declineReason"]) == (
        "DECLINED",
        5000,
        "the card was declined by its issuer",
    )
    assert "chargeId" not in stored
    assert emitted_metrics(capsys.readouterr().out) == {"PaymentDeclines": [1.0]}  # one decline, counted once


def test_a_processing_error_fails_transiently_once_then_the_retry_is_captured(
    aws: LocalAws, provider: CountingProvider, lambda_context: Any
) -> None:
    with pytest.raises(PaymentProviderUnavailable):
        charge(lambda_context, token="tok_processingError")
    assert payment(aws) is None  # nothing recorded: the state machine retries the step

    assert charge(lambda_context, token="tok_processingError")["status"] == "CAPTURED"
    assert (payment(aws) or {})["status"] == "CAPTURED"
    assert provider.charges == 2


def test_an_unavailable_provider_fails_every_time_and_records_nothing(
    aws: LocalAws, provider: CountingProvider, lambda_context: Any
) -> None:
    for _ in range(3):
        with pytest.raises(PaymentProviderUnavailable):
            charge(lambda_context, token="tok_unavailable")

    assert payment(aws) is None
    assert contents(aws, "IdempotencyTable") == []  # a failed step leaves the retry free to run


def test_an_unknown_token_is_declined_with_a_message_that_does_not_repeat_it(
    aws: LocalAws, provider: CountingProvider, lambda_context: Any
) -> None:
    with pytest.raises(PaymentDeclined, match="does not know this card token") as declined:
        charge(lambda_context, token="tok_4242424242424242")

    assert "4242" not in str(declined.value)
    assert (payment(aws) or {})["status"] == "DECLINED"


def test_a_replayed_charge_answers_the_same_without_charging_again(
    aws: LocalAws, provider: CountingProvider, lambda_context: Any
) -> None:
    first = charge(lambda_context)
    payments, records = contents(aws, "PaymentsTable"), contents(aws, "IdempotencyTable")

    assert charge(lambda_context) == first
    assert (contents(aws, "PaymentsTable"), contents(aws, "IdempotencyTable")) == (payments, records)

    forget_idempotency_records(aws)
    assert charge(lambda_context) == first  # found in the payments table this time
    assert contents(aws, "PaymentsTable") == payments
    assert provider.charges == 1


class Killed(BaseException):
    """The invocation's process killed mid-handler (a Lambda timeout, a crash): a BaseException, so that nothing,
    Powertools included, cleans up. Its idempotency record stays IN_PROGRESS, as after a real kill."""


def test_a_charge_killed_between_its_record_and_its_reply_answers_the_same_when_retried(
    aws: LocalAws, provider: CountingProvider, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Captured and recorded, then the reply was lost: the saga's retry is refused as in progress (technical,
    retried) while the dead invocation's record lives, then answered from the payment record, never charged again."""
    record = repository.record

    def record_then_die(payment: Any) -> Any:
        record(payment)
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(repository, "record", record_then_die)
        with pytest.raises(Killed):
            charge(lambda_context)
    stored = payment(aws) or {}
    assert stored["status"] == "CAPTURED"

    with pytest.raises(IdempotencyAlreadyInProgressError):
        charge(lambda_context)
    forget_idempotency_records(aws)  # the IN_PROGRESS record expired with the dead invocation
    answer = charge(lambda_context)

    assert (answer["paymentId"], answer["status"], answer["amount"]) == (stored["paymentId"], "CAPTURED", 5000)
    assert provider.charges == 1


def test_a_duplicate_charge_delivered_while_the_first_is_in_flight_never_charges_twice(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    """The duplicate arrives while the provider is charging: refused as in progress (technical, so Step Functions
    retries it), and its retry gets the first charge's answer."""

    class DuplicatedProvider(CountingProvider):
        def charge(self, idempotency_key: str, token: str, amount: int, currency: str) -> str:
            with pytest.raises(IdempotencyAlreadyInProgressError):
                charge(lambda_context)  # the module's charge() (a method body skips the class scope): the duplicate
            return super().charge(idempotency_key, token, amount, currency)

    duplicated = DuplicatedProvider()
    monkeypatch.setattr(service, "payment_provider", lambda: duplicated)

    first = charge(lambda_context)

    assert charge(lambda_context) == first  # the duplicate's retry
    assert duplicated.charges == 1
    assert (payment(aws) or {})["status"] == "CAPTURED"


def test_a_replayed_declined_charge_is_declined_again_without_asking_the_provider(
    aws: LocalAws, provider: CountingProvider, lambda_context: Any
) -> None:
    with pytest.raises(PaymentDeclined):
        charge(lambda_context, token="tok_chargeDeclined")

    with pytest.raises(PaymentDeclined, match="declined by its issuer"):
        charge(lambda_context, token="tok_chargeDeclined")
    assert provider.charges == 1


def test_the_same_order_with_another_amount_is_refused(
    aws: LocalAws, provider: CountingProvider, lambda_context: Any
) -> None:
    charge(lambda_context, amount=5000)

    with pytest.raises(IdempotencyValidationError):
        charge(lambda_context, amount=1)

    assert (payment(aws) or {})["amount"] == 5000
    assert provider.charges == 1


def test_a_charge_landing_after_the_orders_refund_gives_the_money_back(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    """The saga timed out on the charge and compensated; the provider answers afterwards."""

    class SlowProvider(CountingProvider):
        def charge(self, idempotency_key: str, token: str, amount: int, currency: str) -> str:
            refund = handler.lambda_handler({"action": "RefundPayment", "orderId": idempotency_key}, lambda_context)
            assert refund["status"] == "NOTHING_TO_REFUND"
            return super().charge(idempotency_key, token, amount, currency)

    slow = SlowProvider()
    monkeypatch.setattr(service, "payment_provider", lambda: slow)

    with pytest.raises(PaymentCancelled, match="refunded"):
        charge(lambda_context)

    assert (payment(aws) or {})["status"] == "CANCELLED"
    assert (slow.charges, slow.refunds) == (1, 1)
    simulator_charges = [i for i in contents(aws, "PaymentsTable") if i["pk"].startswith("SIMULATOR#CHARGE#")]
    assert [(c["status"], c["refundedAmount"]) for c in simulator_charges] == [("REFUNDED", 5000)]


@pytest.mark.parametrize(
    ("change", "error"),
    [({"amount": 0}, "amount must be a positive integer"), ({"amount": 19.99}, "amount must be of type int"),
     ({"currency": "usd"}, "ISO 4217"), ({"token": None}, "token must be of type str")],
)  # fmt: skip
def test_a_malformed_charge_is_refused_before_the_provider_is_asked(
    aws: LocalAws, provider: CountingProvider, lambda_context: Any, change: dict[str, Any], error: str
) -> None:
    event = {
        "action": "ChargePayment",
        "orderId": ORDER,
        "amount": 5000,
        "currency": "USD",
        "token": "tok_visa",
        **change,
    }
    with pytest.raises(InvalidCommand, match=error):
        handler.lambda_handler(event, lambda_context)
    assert provider.charges == 0


def test_the_card_token_is_never_stored_nor_logged(
    aws: LocalAws, lambda_context: Any, capsys: pytest.CaptureFixture[str], stdout_logs: None
) -> None:
    tokens = ["tok_visa", "tok_chargeDeclined", "tok_processingError", "tok_unavailable", "tok_4242424242424242"]
    for number, token in enumerate(tokens):
        order_id = f"ord_{number:026d}"
        for _ in range(2):  # processingError: the failure, then the capture
            with contextlib.suppress(PaymentDeclined, PaymentProviderUnavailable):
                charge(lambda_context, token=token, order_id=order_id)
        handler.lambda_handler({"action": "RefundPayment", "orderId": order_id}, lambda_context)
    output = capsys.readouterr()

    assert '"step done"' in output.out  # the logs were captured
    stored = json.dumps(contents(aws, "PaymentsTable") + contents(aws, "IdempotencyTable"), default=str)
    assert "CAPTURED" in stored
    for token in tokens:
        assert token not in stored
        assert token not in output.out + output.err


def test_the_sample_charge_event_captures_its_amount(aws: LocalAws, lambda_context: Any) -> None:
    event = read_event("payments-charge.json")

    answer = handler.lambda_handler(event, lambda_context)

    assert answer == {
        "paymentId": derived_id("pay", event["orderId"]),
        "status": "CAPTURED",
        "amount": event["amount"],
        "currency": event["currency"],
    }
