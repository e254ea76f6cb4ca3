"""Error names moto's interpreter gets wrong: Step Functions' own (`States.*`) confused with custom ones, and Lambda
service errors of a Task on a function ARN."""

from collections.abc import Sequence
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace


def states_error_name(error: str) -> Any:
    """The interpreter's name for a `States.` error (its own type: a custom name may not start with `States.`),
    False for a `States.` name Step Functions does not have, None for a custom error name."""
    if not error.startswith("States."):
        return None
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName

    try:
        return StatesErrorName.from_name(error)
    except ValueError:
        return False


def _changes() -> Sequence[Change]:
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl

    custom_error_name = branches_decl.CustomErrorName

    def error_name(error_name: str) -> Any:
        return states_error_name(error_name) or custom_error_name(error_name=error_name)

    return [Replace(branches_decl, "CustomErrorName", error_name)]


PARALLEL_BRANCH_ERROR_NAMES = Patch(
    name="sfn-parallel-branch-errors",
    kind=Kind.GAP,
    replaces="moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl.CustomErrorName: "
    "a branch's States.Timeout or States.TaskFailed re-raised as a custom name, which crashes (ValueError)",
    because="Step Functions fails the Parallel with the branch's error, which its Catch on States.ALL catches "
    "(the saga's compensation depends on it)",
    changes=_changes,
)


def _lambda_service_error_changes() -> Sequence[Change]:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
        StateTaskServiceLambda,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    plain = StateTaskLambda._from_error

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return plain(self, env, ex)
        # What `arn:aws:states:::lambda:invoke` names it, with the same cause.
        error, cause = StateTaskServiceLambda._error_cause_from_client_error(ex)
        details = LambdaFunctionFailedEventDetails(error=error, cause=cause)
        return FailureEvent(
            env=env, error_name=CustomErrorName(error), event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(lambdaFunctionFailedEventDetails=details),  # type: ignore[typeddict-item]  # moto: total TypedDict
        )  # fmt: skip

    return [Replace(StateTaskLambda, "_from_error", _from_error)]


LAMBDA_SERVICE_ERROR_NAMES = Patch(
    name="sfn-lambda-service-errors",
    kind=Kind.GAP,
    replaces="moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda.StateTaskLambda."
    "_from_error: a Task whose Resource is a function ARN names every error of the Invoke call itself `Exception`",
    because="Step Functions names them `Lambda.<error code>` (a throttle: Lambda.TooManyRequestsException, which "
    "Retry rules match), as moto already does for `arn:aws:states:::lambda:invoke`",
    changes=_lambda_service_error_changes,
)
