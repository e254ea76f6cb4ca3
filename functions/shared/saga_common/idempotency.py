"""Powertools idempotency for saga steps: keyed by order id and step, payload validated.

The record key is `<function name>.<module>.<step function>#<hash of the order id>`, so each step
of each order runs at most once while its record lives; a retry or a replayed request gets the
stored result. `validate` names the part of the command that must not change for the same order:
a reused key with other items or another amount raises IdempotencyValidationError.
"""

import os
from collections.abc import Callable
from functools import cache, wraps
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

Command = dict[str, Any]
Step = Callable[..., dict[str, Any]]

_configs: list[IdempotencyConfig] = []


@cache
def _persistence_store() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])


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
        guarded: Step | None = None

        @wraps(step)
        def run(*, command: Command) -> dict[str, Any]:
            nonlocal guarded
            if guarded is None:  # built on first call: the persistence layer creates a boto3 client
                guarded = idempotent_function(
                    step,
                    data_keyword_argument="command",
                    config=config,
                    persistence_store=_persistence_store(),
                )
            return guarded(command=command)

        return run

    return decorate


def register_lambda_context(context: LambdaContext) -> None:
    """Let Powertools expire an in-progress record when the invocation that wrote it times out."""
    for config in _configs:
        config.register_lambda_context(context)


def reset() -> None:
    """Forget the persistence layer (tests start a new moto backend per test)."""
    _persistence_store.cache_clear()
