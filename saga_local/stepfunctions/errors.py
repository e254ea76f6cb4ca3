"""Step Functions' own error names (`States.*`), where moto's interpreter confuses them with custom ones."""

from collections.abc import Sequence
from typing import Any

from saga_local.patching import Change, Kind, Patch, Replace


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
