"""Powertools idempotency for saga steps: keyed by order id and step, payload validated.

The record key is `<function name>.<module>.<step function>#<hash of the order id>`, so each step
of each order runs at most once while its record lives; a retry or a replayed request gets the
stored result. `validate` names the part of the command that must not change for the same order:
a reused key with other items or another amount raises IdempotencyValidationError.

A service with idempotent steps declares its settings on `IdempotencySettings` (the table, and how long a
record lives); the entry decorator (saga_common.entry) then calls `configure` at each invocation's start.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from saga_common import aws
from saga_common.errors import ConfigurationError
from saga_common.settings import FunctionSettings

Command = dict[str, Any]
Step = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class IdempotencySettings(FunctionSettings):
    """What every function with idempotent steps reads: the records' table, and how long a record lives."""

    idempotency_table: str
    idempotency_ttl_seconds: int


@dataclass
class _Invocation:
    settings: IdempotencySettings | None = None
    context: LambdaContext | None = None


_invocation = _Invocation()
_guards: list["_Guard"] = []


class _Guard:
    """A step wrapped by Powertools, built on its first call (the persistence layer needs a client and the settings).

    Each step gets its own persistence layer: Powertools configures a layer once, with the first
    config it sees, so a shared layer would key every step by the first step's JMESPath."""

    def __init__(self, step: Step, key: str, validate: str) -> None:
        self.step, self.key, self.validate = step, key, validate
        self.config: IdempotencyConfig | None = None
        self.guarded: Step | None = None

    def __call__(self, command: Command) -> dict[str, Any]:
        settings = _invocation.settings
        if settings is None:
            raise ConfigurationError("an idempotent step runs inside saga_common.entry.lambda_entry (no settings)")
        if self.guarded is None or self.config is None:
            self.config = IdempotencyConfig(
                event_key_jmespath=self.key,
                payload_validation_jmespath=self.validate,
                raise_on_no_idempotency_key=True,
                expires_after_seconds=settings.idempotency_ttl_seconds,
            )
            store = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=aws.dynamodb())
            self.guarded = idempotent_function(
                self.step, data_keyword_argument="command", config=self.config, persistence_store=store
            )
        if _invocation.context is not None:
            # Lets Powertools expire an in-progress record when the invocation that wrote it times out.
            self.config.register_lambda_context(_invocation.context)
        return self.guarded(command=command)


def idempotent_step(*, key: str = "orderId", validate: str) -> Callable[[Step], Step]:
    """Make `step(command=...)` idempotent, keyed by the JMESPath `key` of the command."""

    def decorate(step: Step) -> Step:
        guard = _Guard(step, key, validate)
        _guards.append(guard)

        @wraps(step)
        def run(*, command: Command) -> dict[str, Any]:
            return guard(command)

        return run

    return decorate


def configure(settings: IdempotencySettings, context: LambdaContext) -> None:
    """The invocation's settings and Lambda context, for the idempotent steps it runs (saga_common.entry calls it)."""
    _invocation.settings, _invocation.context = settings, context


def reset() -> None:
    """Forget persistence layers and the invocation (tests start a new moto backend per test; saga_common.aws.reset
    forgets clients)."""
    _invocation.settings = _invocation.context = None
    for guard in _guards:
        guard.guarded = guard.config = None
