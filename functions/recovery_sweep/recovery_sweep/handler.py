"""Lambda entry point of the recovery sweep, invoked by its schedule (EventBridge Scheduler, rate(1 minute))."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from saga_common.entry import lambda_entry

from recovery_sweep import service
from recovery_sweep.settings import RecoverySweepSettings


@lambda_entry(RecoverySweepSettings)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, settings: RecoverySweepSettings
) -> dict[str, list[str]]:
    report = service.sweep(settings.policy, limit=settings.sweep_batch)
    return report.to_dict()
