"""Reading the state machine's ASL file: its states, its transitions, and its worst-case duration.

The worst case bounds the synchronous API call: API Gateway gives an integration 29 s, so every
retry and backoff of the longest path, compensations included, must fit in it. The tests, the template's lint, the
handler tables' check (statemachine.steps) and the local stack all read the ASL through this module.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ASL_PATH = ROOT / "statemachine" / "order_saga.asl.json"
_SUBSTITUTION = re.compile(r"\$\{(\w+)\}")


def load(path: Path = ASL_PATH, substitutions: dict[str, str] | None = None) -> dict[str, Any]:
    """The definition, with `${Name}` DefinitionSubstitutions replaced when given."""
    text = path.read_text(encoding="utf-8")
    if substitutions is not None:
        text = _SUBSTITUTION.sub(lambda m: substitutions[m.group(1)], text)
    definition: dict[str, Any] = json.loads(text)
    return definition


def substitution_names(path: Path = ASL_PATH) -> set[str]:
    return set(_SUBSTITUTION.findall(path.read_text(encoding="utf-8")))


def tasks(definition: dict[str, Any]) -> Iterator["StateRef"]:
    """Every Task state, including those inside Parallel branches."""
    return (ref for ref in walk(definition) if ref.state["Type"] == "Task")


@dataclass(frozen=True)
class StateRef:
    name: str
    state: dict[str, Any]
    scope: str  # "" for the top level, "<Parallel state>[<branch index>]" inside a branch


def walk(definition: dict[str, Any], scope: str = "") -> Iterator[StateRef]:
    """Every state, including those inside Parallel branches."""
    for name, state in definition["States"].items():
        yield StateRef(name, state, scope)
        for index, branch in enumerate(state.get("Branches", [])):
            yield from walk(branch, f"{scope}{name}[{index}]/")


def successors(state: dict[str, Any]) -> list[str]:
    """Names a state can move to next, in its own scope."""
    targets = [state["Next"]] if "Next" in state else []
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    if "Default" in state:
        targets.append(state["Default"])
    targets += [catcher["Next"] for catcher in state.get("Catch", [])]
    return targets


# Errors the service answers without running anything: a throttled Invoke runs no function, a throttled DynamoDB
# request writes nothing. The attempt that gets one costs only its round trip, and leaves no work in progress behind.
FAST_REJECTIONS = frozenset(
    {
        "Lambda.TooManyRequestsException",
        "DynamoDB.ProvisionedThroughputExceededException",
        "DynamoDB.ThrottlingException",
        "DynamoDB.RequestLimitExceeded",
    }
)


def retry_waits(retrier: dict[str, Any]) -> list[float]:
    """The longest wait before each retry: FULL jitter waits at most the un-jittered interval."""
    interval = retrier.get("IntervalSeconds", 1)
    rate = retrier.get("BackoffRate", 2.0)
    cap = retrier.get("MaxDelaySeconds", float("inf"))
    return [min(interval * rate**k, cap) for k in range(retrier.get("MaxAttempts", 3))]


def shortest_first_wait(retrier: dict[str, Any]) -> float:
    """The least a retrier waits before its first retry: its interval, or nothing with FULL jitter (which draws the
    wait between 0 and the interval)."""
    if retrier.get("JitterStrategy", "NONE") == "FULL":
        return 0.0
    return float(min(retrier.get("IntervalSeconds", 1), retrier.get("MaxDelaySeconds", float("inf"))))


def is_fast_rejection_only(retrier: dict[str, Any]) -> bool:
    return set(retrier["ErrorEquals"]) <= FAST_REJECTIONS


def worst_case_task_seconds(state: dict[str, Any]) -> float:
    """Every attempt runs to its timeout and every retrier is used up (different errors may exhaust
    different retriers in one execution). An attempt a retrier of fast rejections only (FAST_REJECTIONS) retries
    was answered at once: that retrier costs its backoff, not attempts."""
    if "TimeoutSeconds" not in state:
        raise ValueError("a Task without TimeoutSeconds can run for a year")
    retriers = state.get("Retry", [])
    attempts = 1 + sum(int(r.get("MaxAttempts", 3)) for r in retriers if not is_fast_rejection_only(r))
    return attempts * float(state["TimeoutSeconds"]) + sum(sum(retry_waits(r)) for r in retriers)


def worst_case_seconds(definition: dict[str, Any]) -> float:
    """The longest the machine can run, following every path (Parallel: its slowest branch)."""
    return worst_case(definition)[0]


def worst_case(definition: dict[str, Any]) -> tuple[float, tuple[str, ...]]:
    """The longest the machine can run, and the path that takes it: the states entered in its top-level scope (a
    Parallel state counts as its slowest branch). Every transition is followed: Next, each Choice rule and Default,
    each Catch, so a failure's recovery (a Catch into a state that reads what was stored, then back into the forward
    steps) is a path like any other. Of paths as long, the one through the first successor listed is named."""
    states = definition["States"]
    memo: dict[str, tuple[float, tuple[str, ...]]] = {}

    def from_state(name: str, visiting: frozenset[str]) -> tuple[float, tuple[str, ...]]:
        if name in visiting:
            raise ValueError(f"cycle through {name}: the worst case is unbounded")
        if name not in memo:
            state = states[name]
            own = 0.0
            if state["Type"] == "Task":
                own = worst_case_task_seconds(state)
            elif state["Type"] == "Parallel":
                own = max(worst_case_seconds(branch) for branch in state["Branches"])
            elif state["Type"] == "Wait":
                own = float(state.get("Seconds", 0))
            seconds, rest = 0.0, tuple[str, ...]()
            for target in successors(state):
                after = from_state(target, visiting | {name})
                if after[0] > seconds or not rest:
                    seconds, rest = after
            memo[name] = (own + seconds, (name, *rest))
        return memo[name]

    return from_state(definition["StartAt"], frozenset())
