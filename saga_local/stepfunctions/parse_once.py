"""An execution reuses the program parsed for the same definition.

moto parses the definition again for every execution (ANTLR: about 0.2 s of CPU for this project's saga,
most of an order's time locally). A program's components keep an execution's state in the execution's
environment (its heap and stack), not in themselves, which is what lets moto run one program in many
threads for a Map or Parallel state: sharing it between executions is as safe.
"""

import threading
from collections.abc import Sequence
from functools import wraps
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace

_PROGRAMS_KEPT = 16
_programs: dict[str, Any] = {}  # definition -> the interpreter's program, oldest first
_programs_lock = threading.Lock()


def _changes() -> Sequence[Change]:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    entrypoint = ExecutionWorker._get_evaluation_entrypoint

    @wraps(entrypoint)
    def parsed_once(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        with _programs_lock:
            program = _programs.get(definition)
        if program is None:
            program = entrypoint(self)
            with _programs_lock:
                _programs[definition] = program
                while len(_programs) > _PROGRAMS_KEPT:
                    del _programs[next(iter(_programs))]
        return program

    return [Replace(ExecutionWorker, "_get_evaluation_entrypoint", parsed_once)]


PARSE_DEFINITIONS_ONCE = Patch(
    name="sfn-parse-once",
    kind=Kind.SPEED,
    replaces="moto.stepfunctions.parser.backend.execution_worker.ExecutionWorker._get_evaluation_entrypoint: "
    "parses the ASL for every execution",
    because="an order should not spend most of its local CPU parsing the same definition",
    changes=_changes,
)
