"""The one Lambda handler shape of the saga's step services: a table of their steps.

The state machine invokes a service with {"action": "<Task state name>", "orderId": ..., ...}: each
action is named after the Task state that calls it. The handler, behind saga_common.entry.lambda_entry
(logging with the order id as correlation id, tracing, metrics, the service's settings), adds tracing
annotations (orderId, step, outcome: filter X-Ray traces by order with `annotation.orderId = "..."`), then runs
the step. Exceptions propagate: Step Functions matches their class name in Retry and Catch.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from saga_common.entry import lambda_entry
from saga_common.errors import BusinessError, InvalidCommand
from saga_common.idempotency import Command
from saga_common.observability import logger, tracer
from saga_common.settings import FunctionSettings

Run = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Step:
    """A saga step: the function that runs it, and the errors it answers with that a retry cannot change.

    `final_errors` is the source of truth for the Task's no-retry list in the ASL (its first Retrier,
    MaxAttempts 0): tests/statemachine/test_handler_tables.py checks the two agree and
    `make asl-errors` rewrites the ASL from the code.
    """

    run: Run
    final_errors: tuple[type[Exception], ...] = ()

    @property
    def no_retry(self) -> list[str]:
        """The error names the state machine must not retry: `final_errors`, then InvalidCommand, which every
        step raises for a command it cannot act on."""
        return [*(error.__name__ for error in self.final_errors), InvalidCommand.__name__]


def saga_step_handler(
    steps: Mapping[str, Step], settings_type: type[FunctionSettings]
) -> Callable[[Command, LambdaContext], dict[str, Any]]:
    """The Lambda handler running `steps[event["action"]]`, behind the entry decorator with `settings_type`."""

    @lambda_entry(settings_type, correlation_id_path="orderId", log_event=False)  # events carry the card token
    def handler(event: Command, context: LambdaContext, settings: FunctionSettings) -> dict[str, Any]:
        name = event.get("action")
        if not isinstance(name, str) or name not in steps:
            raise InvalidCommand(f"action must be one of {sorted(steps)}, got {name!r}")
        step = steps[name]
        tracer.put_annotation("step", name)
        if "orderId" in event:
            tracer.put_annotation("orderId", str(event["orderId"]))
        try:
            result = step.run(command=event)
        except BusinessError as error:
            tracer.put_annotation("outcome", type(error).__name__)
            logger.info("step refused", extra={"step": name, "reason": type(error).__name__, "detail": str(error)})
            raise
        except Exception as error:
            tracer.put_annotation("outcome", "technical_failure")
            logger.exception("step failed", extra={"step": name, "error": type(error).__name__})
            raise
        tracer.put_annotation("outcome", "success")
        logger.info("step done", extra={"step": name})
        return result

    return handler
