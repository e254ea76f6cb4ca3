"""The outbox as its consumers see it: the orders table's stream as Lambda delivers it to the relay, the audit
queue's messages, and the order event envelope's schema."""

import json
from pathlib import Path
from typing import Any

import boto3
from jsonschema import Draft202012Validator

from tests.support.aws import LocalAws
from tests.support.paths import ROOT

SCHEMA = json.loads(Path(ROOT, "schemas", "order-event.schema.json").read_text(encoding="utf-8"))
envelope_schema = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def audit_messages(aws: LocalAws) -> list[dict[str, Any]]:
    """Everything on the audit queue, in delivery order, as a consumer receives it."""
    messages: list[dict[str, Any]] = []
    while received := aws.sqs.receive_message(
        QueueUrl=aws.audit_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages += received
        for message in received:  # FIFO: a group's next messages come once these are deleted
            aws.sqs.delete_message(QueueUrl=aws.audit_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def orders_stream_batch(aws: LocalAws, table_name: str) -> dict[str, Any]:
    """The orders table's stream so far, as the Lambda event source mapping would deliver it."""
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = aws.dynamodb.meta.client.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    for each in records:
        each["dynamodb"]["ApproximateCreationDateTime"] = int(
            each["dynamodb"]["ApproximateCreationDateTime"].timestamp()
        )
        each["eventSourceARN"] = arn
    return {"Records": records}
