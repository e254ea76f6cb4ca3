"""saga_local.dynamodb.transactions: a transaction copies the items it touches, and still rolls back."""

import pytest
from botocore.exceptions import ClientError

from tests.support.emulator import stream_events, streamed_table


def test_cancelled_transaction_leaves_items_and_stream_as_they_were(server: str) -> None:
    """moto rolls a transaction back by copying whole tables; the local stack copies only the items it
    touches: a cancellation after some writes must still undo them, and their stream records."""
    dynamodb, stream_arn = streamed_table(server, "tx")
    dynamodb.put_item(TableName="tx", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "tx", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Put": {"TableName": "tx", "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
            {"ConditionCheck": {"TableName": "tx", "Key": {"pk": {"S": "a"}, "sk": {"S": "3"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])  # fmt: skip
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    items = dynamodb.scan(TableName="tx")["Items"]
    assert items == [{"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}}]
    assert stream_events(server, stream_arn) == ["INSERT 1"]


def test_committed_transaction_writes_every_item_and_its_stream_records(server: str) -> None:
    dynamodb, stream_arn = streamed_table(server, "tx")
    dynamodb.put_item(TableName="tx", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})
    dynamodb.transact_write_items(TransactItems=[
        {"Update": {"TableName": "tx", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
        {"Put": {"TableName": "tx", "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
    ])  # fmt: skip
    items = sorted(dynamodb.scan(TableName="tx")["Items"], key=lambda item: item["sk"]["S"])
    assert items == [{"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "2"}}, {"pk": {"S": "a"}, "sk": {"S": "2"}}]
    assert stream_events(server, stream_arn) == ["INSERT 1", "MODIFY 1", "INSERT 2"]
