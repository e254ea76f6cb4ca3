"""saga_local.cost.meter: the meter counting billable units from the calls moto serves."""

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from saga_local.cost.meter import Meter

# ---------------------------------------------------------------- the meter on moto's DynamoDB


@pytest.fixture
def dynamodb_meter(tmp_path: Path) -> Any:
    """A meter on a moto server's DynamoDB (the listener hook works for the server's dispatch)."""
    from moto.server import ThreadedMotoServer

    from saga_local.launch import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    name = f"t-{uuid.uuid4().hex}"  # moto's backends outlive a server: a table of its own per test
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])  # fmt: skip
    meter = Meter(tables={name: "Items"}, functions={}, log_dir=tmp_path)
    meter.install()
    try:
        yield client, meter, name
    finally:
        meter.close()
        server.stop()


def _usage(meter: Meter, action: Any) -> dict[str, float]:
    before = meter.snapshot()
    action()
    return Meter.delta(before, meter.snapshot())


def test_the_meter_counts_a_write_by_the_larger_of_the_item_before_and_after(dynamodb_meter: Any) -> None:
    client, meter, table = dynamodb_meter
    big = "x" * 1500
    assert _usage(meter, lambda: client.put_item(TableName=table, Item={"pk": {"S": "a"}, "d": {"S": big}})) == {
        "dynamodb.Items.wcu": 2.0, "dynamodb.Items.writes": 1, "dynamodb.Items.writes_over_1kb": 1,
        "dynamodb.Items.wcu_over_1kb": 1.0,
    }  # fmt: skip
    # Shrinking the item to a few bytes is billed on the 1.5 KB it was before.
    shrink = lambda: client.update_item(TableName=table, Key={"pk": {"S": "a"}}, UpdateExpression="REMOVE d")  # noqa: E731
    assert _usage(meter, shrink)["dynamodb.Items.wcu"] == 2.0


def test_the_meter_bills_a_failed_condition(dynamodb_meter: Any) -> None:
    client, meter, table = dynamodb_meter
    client.put_item(TableName=table, Item={"pk": {"S": "b"}, "d": {"S": "y" * 3000}})

    def conditional() -> None:
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(TableName=table, Item={"pk": {"S": "b"}}, ConditionExpression="attribute_not_exists(pk)")

    assert _usage(meter, conditional)["dynamodb.Items.wcu"] == 3.0  # the existing 3 KB item


def test_the_meter_counts_reads_on_the_full_item_and_transactions_double(dynamodb_meter: Any) -> None:
    client, meter, table = dynamodb_meter
    client.put_item(TableName=table, Item={"pk": {"S": "c"}, "d": {"S": "z" * 5000}})
    get = lambda: client.get_item(TableName=table, Key={"pk": {"S": "c"}}, ProjectionExpression="pk")  # noqa: E731
    assert _usage(meter, get)["dynamodb.Items.rcu"] == 1.0  # 5 KB eventually consistent: 2 x 0.5, projection or not
    transact = lambda: client.transact_write_items(TransactItems=[  # noqa: E731
        {"Put": {"TableName": table, "Item": {"pk": {"S": "d"}}}},
        {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "c"}},
                            "ConditionExpression": "attribute_exists(pk)"}},
    ])  # fmt: skip
    usage = _usage(meter, transact)
    assert usage["dynamodb.Items.wcu"] == 2.0 + 2 * 5  # a small put, a check on a 5 KB item
    assert usage["dynamodb.Items.transact_wcu"] == usage["dynamodb.Items.wcu"]


def test_the_meter_counts_a_sparse_indexs_writes_apart(dynamodb_meter: Any) -> None:
    client, meter, _ = dynamodb_meter
    name = f"t-{uuid.uuid4().hex}"
    index_keys = [{"AttributeName": "sweep", "KeyType": "HASH"}, {"AttributeName": "since", "KeyType": "RANGE"}]
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sweep", "since")],
        GlobalSecondaryIndexes=[{"IndexName": "Sweep", "KeySchema": index_keys,
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}],
    )  # fmt: skip
    meter.tables[name] = "Orders"
    key = {"pk": {"S": "o"}}

    def update(expression: str, **values: str) -> dict[str, float]:
        bound = {"ExpressionAttributeValues": {f":{k}": {"S": v} for k, v in values.items()}} if values else {}
        return _usage(meter, lambda: client.update_item(TableName=name, Key=key, UpdateExpression=expression, **bound))

    placed = _usage(meter, lambda: client.put_item(TableName=name, Item={**key, "d": {"S": "x" * 1500}}))
    assert placed["dynamodb.Orders.wcu"] == 2.0
    assert "dynamodb.Orders/Sweep.wcu" not in placed  # sparse: not in the index
    entered = update("SET sweep = :s, since = :t", s="OPEN", t="1")
    assert entered["dynamodb.Orders/Sweep.wcu"] == 1.0  # one write of its small copy, not of the 1.5 KB item
    assert update("SET since = :t", t="2")["dynamodb.Orders/Sweep.writes"] == 2  # a key changed: delete and put
    assert "dynamodb.Orders/Sweep.wcu" not in update("SET d = :d", d="y")  # not projected: nothing
    assert update("REMOVE sweep, since")["dynamodb.Orders/Sweep.wcu"] == 1.0  # out


# ---------------------------------------------------------------- the meter on moto's SNS -> SQS


@pytest.fixture
def sqs_meter(tmp_path: Path) -> Any:
    from moto.server import ThreadedMotoServer

    from saga_local.launch import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    endpoint_url = f"http://127.0.0.1:{port}"
    sqs, sns = session.client("sqs", endpoint_url=endpoint_url), session.client("sns", endpoint_url=endpoint_url)
    name = f"q-{uuid.uuid4().hex}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    meter = Meter(tables={}, functions={}, log_dir=tmp_path)
    meter.install()
    try:
        yield sqs, sns, meter, queue_url, topic
    finally:
        meter.close()
        server.stop()


def test_a_delivery_is_billed_per_64kb_chunk_and_a_consumers_calls_apart(sqs_meter: Any) -> None:
    sqs, sns, meter, queue_url, topic = sqs_meter
    publish = lambda: sns.publish(TopicArn=topic, Message="m" * 100_000)  # noqa: E731
    delivered = _usage(meter, publish)
    assert delivered["sns.requests"] == 2  # 100 KB: two 64 KB chunks
    assert delivered["sqs.messages_in_queues"] == 1
    assert delivered["sqs.delivery_requests"] == 2  # the SendMessage SNS makes, billed per chunk too
    assert not any(key.startswith(("sqs.application", "sqs.consumer")) for key in delivered)

    def consume() -> None:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    consumed = _usage(meter, consume)
    assert consumed["sqs.consumer.requests"] == 2  # a receive and a delete
    assert "sqs.application.requests" not in consumed
