"""AWS resources, created on first use and kept for the life of the execution environment.

Nothing is created at import time: a cold start pays only for what its path uses, and tests can
start moto before the first client exists. The boto3 types come from the mypy-boto3 stubs, a
development dependency: they are imported for the type checker only, never at run time.
"""

from functools import cache
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient


@cache
def table(name: str) -> "Table":
    """The DynamoDB Table `name` (a service's settings hold its tables' names)."""
    return boto3.resource("dynamodb").Table(name)


@cache
def dynamodb() -> "DynamoDBClient":
    return boto3.client("dynamodb")


@cache
def sns() -> "SNSClient":
    return boto3.client("sns")


@cache
def stepfunctions() -> "SFNClient":
    return boto3.client("stepfunctions")


@cache
def sqs() -> "SQSClient":
    return boto3.client("sqs")


def reset() -> None:
    """Forget cached resources (tests start a new moto backend per test)."""
    for cached in (table, dynamodb, sns, sqs, stepfunctions):
        cached.cache_clear()
