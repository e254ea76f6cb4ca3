"""Fixtures every test shares: an in-process moto AWS holding the template's own tables."""

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Powertools reads these when the function modules are imported, before any fixture runs.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "OrderSaga")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")
# The layer (functions/shared) and every service folder, as Lambda puts a function's code and its layer on the path.
for service_dir in sorted((ROOT / "functions").glob("*/")):
    sys.path.insert(0, str(service_dir))
sys.path.insert(0, str(ROOT))

from saga_local.cloudformation import template as cfn  # noqa: E402
from saga_local.dynamodb.request_lock import SERIALIZE_REQUESTS  # noqa: E402

REGION = "us-east-1"
# Table resource -> the environment variable the functions read its name from.
TABLE_ENV = {
    "OrdersTable": "ORDERS_TABLE",
    "InventoryTable": "INVENTORY_TABLE",
    "PaymentsTable": "PAYMENTS_TABLE",
    "BillingTable": "BILLING_TABLE",
    "IdempotencyTable": "IDEMPOTENCY_TABLE",
}


@dataclass
class LocalAws:
    """The moto account a test runs in: boto3 handles on the template's resources."""

    dynamodb: Any
    tables: dict[str, Any]  # logical id -> boto3 Table
    sns: Any
    sqs: Any
    topic_arn: str
    audit_queue_url: str
    published: list[dict[str, Any]] = field(default_factory=list)

    def table(self, logical_id: str) -> Any:
        return self.tables[logical_id]


def _functions_environment() -> dict[str, str]:
    """What template.yaml sets in the functions' Environment (Globals included), so every setting a function requires
    is there: plain values as written, a resource's Ref as `test-<logical id>` (the tables' names in the `aws`
    fixture; tests that use another resource set its variable). Parameters' Refs and the variables whose value differs
    between functions (POWERTOOLS_SERVICE_NAME) are left out, as are empty ones (AWS_ENDPOINT_URL)."""
    template = cfn.load()
    environments = [template["Globals"]["Function"].get("Environment", {}).get("Variables", {})] + [
        resource["Properties"].get("Environment", {}).get("Variables", {})
        for resource in cfn.resources_of_type(template, "AWS::Serverless::Function").values()
    ]
    values: dict[str, set[str]] = {}
    for variables in environments:
        for name, value in variables.items():
            if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template["Resources"]:
                value = f"test-{value['Ref']}"
            if isinstance(value, str) and value:
                values.setdefault(name, set()).add(value)
    return {name: value for name, (value, *others) in values.items() if not others}


FUNCTIONS_ENVIRONMENT = _functions_environment()


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever reaches a real AWS account, Powertools runs quietly, and the functions' settings are there."""
    for name, value in {
        **FUNCTIONS_ENVIRONMENT,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "OrderSaga",
        "POWERTOOLS_DEV": "0",
        "AWS_LAMBDA_FUNCTION_NAME": "test-function",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    """moto with every DynamoDB table of template.yaml (same keys, same stream), the order events
    FIFO topic and the audit FIFO queue subscribed to it; function caches reset around the test."""
    from moto import mock_aws

    SERIALIZE_REQUESTS.apply()
    _reset_function_caches()
    template = cfn.load()
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        tables = {}
        for logical_id, resource in cfn.resources_of_type(template, "AWS::DynamoDB::Table").items():
            name = f"test-{logical_id}"
            dynamodb.meta.client.create_table(**cfn.create_table_request(resource["Properties"], name))
            tables[logical_id] = dynamodb.Table(name)
            if logical_id in TABLE_ENV:
                monkeypatch.setenv(TABLE_ENV[logical_id], name)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(
            Name="test-order-events.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "false"}
        )["TopicArn"]
        queue_url = sqs.create_queue(
            QueueName="test-audit.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"}
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        monkeypatch.setenv("ORDER_EVENTS_TOPIC_ARN", topic_arn)
        yield LocalAws(dynamodb, tables, sns, sqs, topic_arn, queue_url)
    _reset_function_caches()


def _reset_function_caches() -> None:
    from saga_common import aws as saga_aws
    from saga_common import idempotency, settings

    saga_aws.reset()
    idempotency.reset()
    settings.reset()


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "2026/11/25/[$LATEST]test"

    def get_remaining_time_in_millis(self) -> int:
        return 3000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def read_event(name: str) -> dict[str, Any]:
    """A sample event from events/, as `sam local invoke -e events/<name>` would send it."""
    import json

    return json.loads((ROOT / "events" / name).read_text(encoding="utf-8"))
