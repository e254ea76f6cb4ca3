"""Powertools idempotency for saga steps: keyed by order id and step, payload validated.

The record key is `<function name>.<module>.<step function>#<hash of the order id>`, so each step
of each order runs at most once while its record lives; a retry or a replayed request gets the
stored result. `validate` names the part of the command that must not change for the same order:
a reused key with other items or another amount raises IdempotencyValidationError.
"""

import os
from collections.abc import Callable
from functools import wraps
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from saga_common import aws

Command = dict[str, Any]
Step = Callable[..., dict[str, Any]]

_configs: list[IdempotencyConfig] = []
_guards: list["_Guard"] = []


class _Guard:
    """A step wrapped by Powertools, built on its first call (the persistence layer needs a client).

    Each step gets its own persistence layer: Powertools configures a layer once, with the first
    config it sees, so a shared layer would key every step by the first step's JMESPath."""

    def __init__(self, step: Step, config: IdempotencyConfig) -> None:
        self.step, self.config = step, config
        self.guarded: Step | None = None

    def __call__(self, command: Command) -> dict[str, Any]:
        if self.guarded is None:
            table = os.environ["IDEMPOTENCY_TABLE"]
            store = DynamoDBPersistenceLayer(table_name=table, boto3_client=aws.dynamodb())
            self.guarded = idempotent_function(
                self.step, data_keyword_argument="command", config=self.config, persistence_store=store
            )
        return self.guarded(command=command)


def idempotent_step(*, key: str = "orderId", validate: str) -> Callable[[Step], Step]:
    """Make `step(command=...)` idempotent, keyed by the JMESPath `key` of the command."""
    config = IdempotencyConfig(
        event_key_jmespath=key,
        payload_validation_jmespath=validate,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=int(os.environ.get("IDEMPOTENCY_TTL_SECONDS", "3600")),
    )
    _configs.append(config)

    def decorate(step: Step) -> Step:
        guard = _Guard(step, config)
        _guards.append(guard)

        @wraps(step)
        def run(*, command: Command) -> dict[str, Any]:
            return guard(command)

        return run

    return decorate


def register_lambda_context(context: LambdaContext) -> None:
    """Let Powertools expire an in-progress record when the invocation that wrote it times out."""
    for config in _configs:
        config.register_lambda_context(context)


def reset() -> None:
    """Forget persistence layers (tests start a new moto backend per test; saga_common.aws.reset forgets clients)."""
    for guard in _guards:
        guard.guarded = None
