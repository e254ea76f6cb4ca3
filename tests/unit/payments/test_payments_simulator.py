"""The shipped simulator provider on its own: test tokens, provider-side idempotency, shared state."""

from typing import Any

import pytest
from payments.errors import PaymentDeclined, PaymentProviderUnavailable
from payments.provider import payment_provider
from payments.simulator import SimulatedProvider
from saga_common import settings
from saga_common.errors import ConfigurationError

from tests.support.aws import LocalAws


def simulator_records(aws: LocalAws, kind: str) -> list[dict[str, Any]]:
    return [i for i in aws.table("PaymentsTable").scan()["Items"] if i["pk"].startswith(f"SIMULATOR#{kind}#")]


def test_the_same_idempotency_key_never_charges_twice(aws: LocalAws) -> None:
    first = SimulatedProvider().charge("key-1", "tok_visa", 1000, "USD")

    assert SimulatedProvider().charge("key-1", "tok_visa", 1000, "USD") == first
    assert SimulatedProvider().charge("key-2", "tok_visa", 1000, "USD") != first
    assert len(simulator_records(aws, "CHARGE")) == 2


def test_a_processing_error_is_transient_per_key_whichever_instance_retries(aws: LocalAws) -> None:
    with pytest.raises(PaymentProviderUnavailable):
        SimulatedProvider().charge("key-1", "tok_processingError", 1000, "USD")
    with pytest.raises(PaymentProviderUnavailable):  # another order fails its first time too
        SimulatedProvider().charge("key-2", "tok_processingError", 1000, "USD")

    # A new instance, as on another Lambda execution environment: the table remembers the attempt.
    assert SimulatedProvider().charge("key-1", "tok_processingError", 1000, "USD").startswith("ch_")


@pytest.mark.parametrize(
    ("token", "error"),
    [("tok_chargeDeclined", PaymentDeclined), ("tok_unavailable", PaymentProviderUnavailable),
     ("tok_madeUp", PaymentDeclined), ("", PaymentDeclined)],
)  # fmt: skip
def test_refusing_tokens_never_charge(aws: LocalAws, token: str, error: type[Exception]) -> None:
    for _ in range(2):
        with pytest.raises(error):
            SimulatedProvider().charge("key-1", token, 1000, "USD")
    assert simulator_records(aws, "CHARGE") == []


def test_refunds_are_idempotent_and_limited_to_the_charge(aws: LocalAws) -> None:
    provider = SimulatedProvider()
    charge_id = provider.charge("key-1", "tok_visa", 1000, "USD")

    provider.refund(charge_id, 1000)
    provider.refund(charge_id, 1000)  # a retried refund changes nothing
    with pytest.raises(ValueError, match="smaller"):
        provider.refund(charge_id, 1001)
    with pytest.raises(ValueError, match="does not exist"):
        provider.refund("ch_unknown", 1)

    [record] = simulator_records(aws, "CHARGE")
    assert (record["status"], record["refundedAmount"]) == ("REFUNDED", 1000)


def test_the_provider_is_chosen_by_payment_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(payment_provider(), SimulatedProvider)  # PAYMENT_PROVIDER=simulator, as deployed

    monkeypatch.setenv("PAYMENT_PROVIDER", "acme-pay")
    settings.reset()  # read once per execution environment: this is another one
    with pytest.raises(ConfigurationError, match="PAYMENT_PROVIDER"):
        payment_provider()
