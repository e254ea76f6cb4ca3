"""The context object (`$$`) as Step Functions fills it, where moto's interpreter differs."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace


def aws_timestamp(iso: str) -> str:
    """`2026-12-03T20:14:03.123456+00:00` (Python's isoformat) as Step Functions writes it:
    `2026-12-03T20:14:03.123Z` (milliseconds, UTC, `Z`)."""
    return datetime.fromisoformat(iso).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _changes() -> Sequence[Change]:
    from moto.stepfunctions.parser.asl.component.state import state

    state_data = state.StateData

    def aws_state_data(*, EnteredTime: str, **fields: Any) -> Any:  # noqa: N803 (moto's TypedDict fields)
        return state_data(EnteredTime=aws_timestamp(EnteredTime), **fields)

    return [Replace(state, "StateData", aws_state_data)]


STATE_ENTERED_TIME = Patch(
    name="sfn-state-entered-time",
    kind=Kind.GAP,
    replaces="moto.stepfunctions.parser.asl.component.state.state.StateData: `$$.State.EnteredTime` in Python's "
    "isoformat (microseconds, `+00:00`)",
    because="Step Functions writes `2026-12-03T20:14:03.123Z`; the saga stores it as the order's createdAt and "
    "updatedAt, which the event schema and every other timestamp of the saga share",
    changes=_changes,
)
