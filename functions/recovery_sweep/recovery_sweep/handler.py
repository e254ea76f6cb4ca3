"""Lambda entry point of the recovery sweep, invoked by its schedule (EventBridge Scheduler, rate(1 minute))."""

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from saga_common.observability import logger, metrics, tracer

from recovery_sweep import service
from recovery_sweep.model import SweepSettings


def settings() -> SweepSettings:
    return SweepSettings(
        stuck_after_seconds=int(os.environ.get("STUCK_AFTER_SECONDS", "60")),
        retry_limit=int(os.environ.get("RETRY_LIMIT", "5")),
        backoff_seconds=int(os.environ.get("RETRY_BACKOFF_SECONDS", "60")),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[str]]:
    report = service.sweep(settings(), limit=int(os.environ.get("SWEEP_BATCH", "100")))
    return report.to_dict()
