"""The one entry decorator of every Lambda handler: Powertools around it, its settings handed to it.

    @lambda_entry(RecoverySweepSettings)
    def lambda_handler(event: dict[str, Any], context: LambdaContext, settings: RecoverySweepSettings) -> ...:

The handler Lambda calls is `lambda_handler(event, context, ...)`: the decorator reads the settings (once per
execution environment, at its init: saga_common.settings), sets up Powertools, and passes the settings on as the
third argument; any further keyword arguments pass through. Logger injects the Lambda context (and the correlation
id found at `correlation_id_path` of the event), Tracer captures the handler (never its response: events carry card
tokens), Metrics flushes at the end. A service with idempotent steps (settings on IdempotencySettings) gets them
configured with its settings and Lambda context. Exceptions propagate untouched: Step Functions matches their class
name in Retry and Catch.
"""

from collections.abc import Callable
from functools import wraps
from typing import Concatenate

from aws_lambda_powertools.utilities.typing import LambdaContext

from saga_common import idempotency
from saga_common.observability import logger, metrics, tracer
from saga_common.settings import FunctionSettings, load, preload


def lambda_entry[S: FunctionSettings, E, R, **P](
    settings_type: type[S], *, correlation_id_path: str | None = None, log_event: bool = False
) -> Callable[[Callable[Concatenate[E, LambdaContext, S, P], R]], Callable[Concatenate[E, LambdaContext, P], R]]:
    """Make `handler(event, context, settings, ...)` the Lambda handler `(event, context, ...)`. `log_event` stays
    False for any event that can carry a card token."""

    def decorate(
        handler: Callable[Concatenate[E, LambdaContext, S, P], R],
    ) -> Callable[Concatenate[E, LambdaContext, P], R]:
        preload(settings_type)  # in a Lambda execution environment, a missing setting fails its init

        @logger.inject_lambda_context(correlation_id_path=correlation_id_path, log_event=log_event)
        @tracer.capture_lambda_handler(capture_response=False)
        @metrics.log_metrics
        @wraps(handler)
        def entry(event: E, context: LambdaContext, *args: P.args, **kwargs: P.kwargs) -> R:
            settings = load(settings_type)
            if isinstance(settings, idempotency.IdempotencySettings):
                idempotency.configure(settings, context)
            return handler(event, context, settings, *args, **kwargs)

        typed: Callable[Concatenate[E, LambdaContext, P], R] = entry  # Powertools' decorators return Any
        return typed

    return decorate
