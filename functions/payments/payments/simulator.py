"""The shipped payment provider: a simulator driven by test tokens, like a real provider's test mode.

- `tok_visa`: approved;
- `tok_chargeDeclined`: declined (PaymentDeclined);
- `tok_processingError`: PaymentProviderUnavailable the first time for an idempotency key, then approved;
- `tok_unavailable`: PaymentProviderUnavailable, always;
- anything else: declined, as a token the simulator does not know.

Its state (charges, attempt counts) lives in the payments table under `SIMULATOR#...` keys, so it
behaves the same whichever Lambda instance a retry lands on. Like a real provider it knows nothing of
orders: only idempotency keys and charges. The token is compared, never stored.
"""

from decimal import Decimal
from typing import TYPE_CHECKING, cast

from botocore.exceptions import ClientError
from saga_common.aws import table
from saga_common.clock import now
from saga_common.dynamodb import is_condition_failure
from saga_common.ids import derived_id

from payments.errors import PaymentDeclined, PaymentProviderUnavailable
from payments.provider import Charge
from payments.settings import settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class SimulatedProvider:
    def charge(self, idempotency_key: str, token: str, amount: int, currency: str) -> str:
        match token:
            case "tok_visa":
                pass
            case "tok_chargeDeclined":
                raise PaymentDeclined("the card was declined by its issuer")
            case "tok_processingError":
                if _count_attempt(idempotency_key) == 1:
                    raise PaymentProviderUnavailable("the payment provider had a processing error; retry")
            case "tok_unavailable":
                raise PaymentProviderUnavailable("the payment provider is unavailable")
            case _:  # never echo the token: it is card data
                raise PaymentDeclined("the payment simulator does not know this card token (see its test tokens)")
        return _capture(idempotency_key, amount, currency)

    def refund(self, charge_id: str, amount: int) -> None:
        try:
            _table().update_item(
                Key=_charge_key(charge_id),
                UpdateExpression=(
                    "SET #status = :refunded, refundedAmount = :amount, refundedAt = if_not_exists(refundedAt, :now)"
                ),
                ConditionExpression="attribute_exists(pk) AND amount >= :amount",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":refunded": "REFUNDED", ":amount": amount, ":now": now()},
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise ValueError(f"charge {charge_id} does not exist or is smaller than {amount}") from None
            raise

    def find_charge(self, idempotency_key: str) -> Charge | None:
        item = _table().get_item(Key=_charge_key(derived_id("ch", idempotency_key)), ConsistentRead=True).get("Item")
        if item is None:
            return None
        return Charge(charge_id=str(item["chargeId"]), amount=int(cast(Decimal, item["amount"])))


def _table() -> "Table":
    return table(settings().payments_table)


def _charge_key(charge_id: str) -> dict[str, str]:
    return {"pk": f"SIMULATOR#CHARGE#{charge_id}"}


def _count_attempt(idempotency_key: str) -> int:
    """How many times this idempotency key was presented, this one included."""
    response = _table().update_item(
        Key={"pk": f"SIMULATOR#ATTEMPTS#{idempotency_key}"},
        UpdateExpression="ADD attempts :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return int(cast(Decimal, response["Attributes"]["attempts"]))  # ADD makes a number: a Decimal


def _capture(idempotency_key: str, amount: int, currency: str) -> str:
    """Record the charge once per idempotency key; a repeat gets the first charge's id back."""
    charge_id = derived_id("ch", idempotency_key)
    try:
        _table().put_item(
            Item={
                **_charge_key(charge_id),
                "chargeId": charge_id,
                "idempotencyKey": idempotency_key,
                "status": "CAPTURED",
                "amount": amount,
                "currency": currency,
                "createdAt": now(),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as error:
        if not is_condition_failure(error):
            raise
    return charge_id
