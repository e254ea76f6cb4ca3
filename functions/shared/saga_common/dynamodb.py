"""DynamoDB at a repository's boundary: integers out, and what a failed condition found.

Money and quantities are integers, but DynamoDB hands every number back as Decimal: repositories pass
items through `plain` before they reach the domain. Conditional writes ask for
ReturnValuesOnConditionCheckFailure=ALL_OLD, so a failure says what it found without another read;
AWS returns that item in DynamoDB JSON, which boto3 does not convert for errors, so it is done here.
"""

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Item = dict[str, Any]

_deserializer = TypeDeserializer()


def plain(value: Any) -> Any:
    """`value` with every integral Decimal turned into int, through maps and lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {key: plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [plain(inner) for inner in value]
    return value


def _from_dynamodb_json(raw: Any) -> Item | None:
    if not raw:
        return None
    item: Item = plain({name: _deserializer.deserialize(value) for name, value in raw.items()})
    return item


def is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def found_item(error: ClientError) -> Item | None:
    """The item a failed PutItem/UpdateItem condition found (the write asked for ALL_OLD)."""
    return _from_dynamodb_json(error.response.get("Item"))


@dataclass(frozen=True)
class CancellationReason:
    """Why one action of a cancelled transaction failed: code "None" means it would have succeeded."""

    code: str
    item: Item | None  # what a failed condition found, when the action asked for ALL_OLD

    @property
    def condition_failed(self) -> bool:
        return self.code == "ConditionalCheckFailed"


def cancellation_reasons(error: ClientError) -> list[CancellationReason] | None:
    """One reason per action of a cancelled TransactWriteItems, in request order; None for other errors."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    return [
        CancellationReason(reason.get("Code", "None"), _from_dynamodb_json(reason.get("Item")))
        for reason in error.response.get("CancellationReasons", [])
    ]


def transact_write(
    client: "DynamoDBClient", actions: "Sequence[TransactWriteItemTypeDef]", *, attempts: int = 3
) -> None:
    """TransactWriteItems, retried with jittered backoff while the only obstacle is another transaction
    in flight on the same items (TransactionConflict: a hot SKU under load), which botocore does not
    retry. Any other cancellation propagates for the caller to read with `cancellation_reasons`."""
    for attempt in range(1, attempts + 1):
        try:
            client.transact_write_items(TransactItems=actions)
            return
        except ClientError as error:
            codes = {reason.code for reason in cancellation_reasons(error) or []}
            if "TransactionConflict" not in codes or codes - {"TransactionConflict", "None"} or attempt == attempts:
                raise
        time.sleep(random.uniform(0, 0.025 * 2**attempt))  # noqa: S311 - jitter, not cryptography
