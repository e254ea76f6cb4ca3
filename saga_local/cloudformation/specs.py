"""What the local stack knows about the template's runnable pieces, once its intrinsics are resolved.

The provisioner (saga_local.cloudformation.provision) builds these from template.yaml; the Lambda runtime, the
stream poller and the API emulator consume them. Nothing here names this application's resources.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function, as the Lambda service would run it."""

    logical_id: str
    name: str  # the physical function name
    arn: str
    code_dir: Path  # CodeUri: the function's own code, importable at the top level
    handler: str  # "package.module.function"
    layer_dirs: tuple[Path, ...]  # each layer's ContentUri (its source; its requirements are in the venv)
    environment: dict[str, str]  # Globals + the function's own variables, intrinsics resolved
    timeout_seconds: int
    memory_mb: int
    runtime: str = "python3.13"
    tracing_active: bool = False
    reserved_concurrency: int | None = None
    role_arn: str = ""  # its execution role: the runtime gives it that role's credentials


@dataclass(frozen=True)
class EventSourceMappingSpec:
    """One AWS::Lambda::EventSourceMapping on a DynamoDB stream, with the settings Lambda honours."""

    logical_id: str
    uuid: str
    function_name: str
    stream_arn: str
    starting_position: str = "TRIM_HORIZON"  # or LATEST
    batch_size: int = 100
    maximum_batching_window_seconds: int = 0
    filter_patterns: tuple[dict[str, Any], ...] = ()  # EventBridge-style patterns; any match passes
    bisect_batch_on_function_error: bool = False
    maximum_retry_attempts: int = -1  # -1: until the record expires
    maximum_record_age_seconds: int = -1  # -1: never
    report_batch_item_failures: bool = False
    on_failure_destination_arn: str | None = None  # an SQS queue or SNS topic ARN
    enabled: bool = True


@dataclass(frozen=True)
class RestApiSpec:
    """One AWS::ApiGateway::RestApi with its stage and keys."""

    logical_id: str
    api_id: str
    definition: dict[str, Any]  # the OpenAPI body, intrinsics resolved
    stage: str
    api_keys: tuple[str, ...] = ()  # values of the enabled keys tied to the stage by a usage plan
    throttle_rate: float | None = None
    throttle_burst: int | None = None
    tracing_enabled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScheduleSpec:
    """One AWS::Scheduler::Schedule (or AWS::Events::Rule with a schedule) whose target is a Lambda function."""

    logical_id: str
    name: str
    expression: str  # rate(1 minute), rate(5 minutes)...
    target_arn: str
    input: str | None = None  # the event the target receives (JSON), or None for the scheduler's default
    enabled: bool = True

    @property
    def interval_seconds(self) -> float:
        """The period of a `rate(N unit)` expression; cron() and at() are not emulated (ValueError)."""
        import re

        match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", self.expression.strip())
        if not match:
            raise ValueError(f"{self.logical_id}: only rate(N minutes|hours|days) schedules run locally")
        unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
        return int(match.group(1)) * unit
