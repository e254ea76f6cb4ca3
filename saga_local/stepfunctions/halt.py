"""Execution faults for chaos runs: after a top-level state, the execution stops dead (as if the orchestrator had
gone away) or reaches the state machine's own timeout, per the `state` rules of SAGA_LOCAL_FAULTS_FILE
(saga_local.faults). No Catch runs and nothing is compensated: what the state wrote stays, and the order is left for
the recovery sweep. The stack hands its Lambda runtime's injector over (`use`), so faults are counted in one place.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace
from saga_local.faults import FaultInjector

_injector: list[FaultInjector] = []


def use(injector: FaultInjector | None) -> None:
    """Ask `injector` after each top-level state from now on (None: stop asking)."""
    _injector[:] = [injector] if injector is not None else []


def after_state(state_name: str, env: Any) -> None:
    """Halt or time out the execution if a rule says so for this state (a Parallel's branches are left alone)."""
    if not _injector or env.is_frame() or not env.is_running():
        return
    fault = _injector[0].for_state(state_name)
    if fault is None:
        return
    if fault.kind == "timeout":
        env.set_timed_out()
    else:
        env.set_stop(stop_date=datetime.now(UTC), cause=f"halted after {state_name}: {fault.message}", error="Halted")


def _changes() -> Sequence[Change]:
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField

    evaluate = CommonStateField._eval_body

    def _eval_body(self: Any, env: Any) -> None:
        evaluate(self, env)
        after_state(self.name, env)

    return [Replace(CommonStateField, "_eval_body", _eval_body)]


HALT_EXECUTIONS = Patch(
    name="sfn-execution-faults",
    kind=Kind.FEATURE,
    replaces="moto.stepfunctions.parser.asl.component.state.state.CommonStateField._eval_body: runs the state, "
    "nothing else",
    because="chaos runs stop executions dead after a step, or time them out, so the recovery sweep must finish "
    "their orders; a pass-through until SAGA_LOCAL_FAULTS_FILE has a `state` rule",
    changes=_changes,
)
