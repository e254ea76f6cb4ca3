"""The in-process moto account the unit and contract tests run in, and a Lambda context for calling handlers."""

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3

REGION = "us-east-1"


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


def reset_function_caches() -> None:
    """Forget the clients and tables the functions' shared code cached (each test has its own moto account)."""
    from saga_common import aws as saga_aws
    from saga_common import idempotency, settings

    saga_aws.reset()
    idempotency.reset()
    settings.reset()


@cache
def shared_session() -> boto3.session.Session:
    """One boto3 session for every test of the process, made after moto is imported (moto's request hook is in every
    session made from then on). moto otherwise gives each test a new default session, which reads every service
    model from disk again: a third of the unit tier's time."""
    import moto  # noqa: F401

    return boto3.session.Session()


@cache
def shared_handles() -> tuple[Any, Any, Any]:
    """The `aws` fixture's DynamoDB resource, SNS and SQS clients, made once: they hold nothing of an account (moto
    answers each call from the account of the test running it), and making them is most of a fixture's time."""
    session = shared_session()
    return (
        session.resource("dynamodb", region_name=REGION),
        session.client("sns", region_name=REGION),
        session.client("sqs", region_name=REGION),
    )
