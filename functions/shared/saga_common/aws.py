"""AWS resources, created on first use and kept for the life of the execution environment.

Nothing is created at import time: a cold start pays only for what its path uses, and tests can
start moto before the first client exists.
"""

import os
from functools import cache
from typing import Any

import boto3


@cache
def table(env_var: str) -> Any:
    """The DynamoDB Table named by the environment variable `env_var`."""
    return boto3.resource("dynamodb").Table(os.environ[env_var])


@cache
def client(service: str) -> Any:
    return boto3.client(service)  # type: ignore[call-overload]  # any service name, typed by the caller


def reset() -> None:
    """Forget cached resources (tests start a new moto backend per test)."""
    table.cache_clear()
    client.cache_clear()
