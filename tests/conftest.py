"""Fixtures every test shares: an in-process moto AWS holding the template's own tables, and each test's tier marker
(from its folder: tests/support/tiers.py). Helpers live in tests/support/."""

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.support import paths, template
from tests.support.aws import REGION, FakeLambdaContext, LocalAws, reset_function_caches, shared_handles, shared_session
from tests.support.tiers import could_select, tier_of

# Powertools reads these when the function modules are imported, before any fixture runs.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "OrderSaga")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")
# Every function's and layer's code folder, as Lambda puts them on the import path: `import inventory` works.
paths.add_import_paths(template.code_dirs())

from saga_local.cloudformation import template as cfn  # noqa: E402
from saga_local.dynamodb.request_lock import SERIALIZE_REQUESTS  # noqa: E402


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With `-m` naming tiers (`pytest -m unit`), the other tiers' folders are not even imported: a tier runs as fast
    as its own tests allow."""
    tier = tier_of(collection_path) if collection_path.is_dir() else None
    if tier and not could_select(config.option.markexpr, tier):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets its tier's marker from its folder: `pytest -m unit` runs tests/unit, and so on."""
    for item in items:
        tier = tier_of(Path(str(item.fspath)))
        if tier:
            item.add_marker(getattr(pytest.mark, tier))


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
        "EVENT_SOURCE": "order-saga.orders",
        "PAYMENT_PROVIDER": "simulator",
        "AWS_LAMBDA_FUNCTION_NAME": "test-function",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    """moto with every DynamoDB table of template.yaml (same keys, same stream), each table's name in the environment
    variable its functions read, the order events FIFO topic and the audit FIFO queue subscribed to it; function
    caches reset around the test."""
    from moto import mock_aws

    SERIALIZE_REQUESTS.apply()
    reset_function_caches()
    table_env = template.table_env()
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", shared_session())
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        dynamodb, sns, sqs = shared_handles()
        tables = {}
        for logical_id, resource in cfn.resources_of_type(template.template(), "AWS::DynamoDB::Table").items():
            name = f"test-{logical_id}"
            request = cfn.create_table_request(resource["Properties"], name)
            # moto makes a KMS key (an RSA key pair: 0.1 s) for each encrypted table; encryption at rest is
            # tests/security's subject, not the functions'.
            request.pop("SSESpecification", None)
            dynamodb.meta.client.create_table(**request)
            tables[logical_id] = dynamodb.Table(name)
            if logical_id in table_env:
                monkeypatch.setenv(table_env[logical_id], name)
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
    reset_function_caches()


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
