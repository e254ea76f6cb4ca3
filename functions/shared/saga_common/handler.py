"""The one Lambda handler shape every saga service uses: a table of actions.

The state machine invokes a service with {"action": "<step>", "orderId": ..., ...}. The handler
sets up logging (correlation id = order id), tracing annotations (orderId, step, outcome: filter
X-Ray traces by order with `annotation.orderId = "..."`) and metrics, then runs the step.
Exceptions propagate: Step Functions matches their class name in Retry and Catch.
"""

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from saga_common.errors import BusinessError, InvalidCommand
from saga_common.idempotency import Command, register_lambda_context
from saga_common.observability import logger, metrics, tracer

Action = Callable[..., dict[str, Any]]


def saga_step_handler(actions: Mapping[str, Action]) -> Callable[[Command, LambdaContext], dict[str, Any]]:
    @logger.inject_lambda_context(correlation_id_path="orderId", log_event=False)  # events carry the card token
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event: Command, context: LambdaContext) -> dict[str, Any]:
        name = event.get("action")
        if not isinstance(name, str) or name not in actions:
            raise InvalidCommand(f"action must be one of {sorted(actions)}, got {name!r}")
        action = actions[name]
        register_lambda_context(context)
        tracer.put_annotation("step", name)
        if "orderId" in event:
            tracer.put_annotation("orderId", str(event["orderId"]))
        try:
            result = action(command=event)
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
