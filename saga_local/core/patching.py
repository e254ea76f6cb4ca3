"""A change to moto's behaviour as a value: what it replaces, why, and how to put moto's own back.

Each service's package defines its patches next to the code they need (saga_local.core.patches lists them all).
A patch is a list of changes computed when it is applied, from moto's objects as they are then, so undoing
it restores exactly what it found. Patches are process-wide, as moto's backends are, and idempotent.
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Kind(StrEnum):
    GAP = "moto gap"  # moto answers differently from AWS, or not at all
    SETTING = "local setting"  # a knob of the local stack only (AWS has none): unchanged by default
    SPEED = "speed-up"  # the same answers for less CPU
    FEATURE = "local feature"  # what the local stack adds: Step Functions Local's mocks, a hook on every call


class Change(Protocol):
    def do(self) -> None: ...

    def undo(self) -> None: ...


_MISSING = object()


@dataclass
class Replace:
    """`owner.name = value`; undone by putting back what was there (or removing it, if nothing was)."""

    owner: Any
    name: str
    value: Any
    _saved: Any = field(default=_MISSING, repr=False)

    def do(self) -> None:
        # The owner's own attribute, not an inherited one: undo must not leave a copy on the subclass.
        self._saved = vars(self.owner).get(self.name, _MISSING)
        setattr(self.owner, self.name, self.value)

    def undo(self) -> None:
        if getattr(self.owner, self.name, _MISSING) is not self.value:
            # Another patch wrapped this one since: restoring now would drop its wrapper too.
            raise RuntimeError(f"{self.owner!r}.{self.name} was patched again since: undo that patch first")
        if self._saved is _MISSING:
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, self._saved)


@dataclass
class Append:
    """`items.append(item)`, for moto's registries that are lists (URL patterns)."""

    items: list[Any]
    item: Any

    def do(self) -> None:
        self.items.append(self.item)

    def undo(self) -> None:
        self.items.remove(self.item)


_lock = threading.RLock()


@dataclass(frozen=True)
class Patch:
    """One change to moto. `replaces`: the moto code and what it does; `because`: the AWS behaviour the
    application relies on (or the reason for a setting or a speed-up); `changes()`: the changes to make,
    computed at apply time; `requires`: patches applied first (and kept when this one is undone);
    `by_default`: whether `saga_local.core.patches.apply_all` applies it (else an API of its own does)."""

    name: str
    kind: Kind
    replaces: str
    because: str
    changes: Callable[[], Sequence[Change]] = field(repr=False)
    requires: tuple["Patch", ...] = ()
    by_default: bool = True
    _done: list[Change] = field(default_factory=list, repr=False, compare=False)

    @property
    def applied(self) -> bool:
        return bool(self._done)

    def apply(self) -> None:
        with _lock:
            for patch in self.requires:
                patch.apply()
            if self._done:
                return
            for change in self.changes():
                change.do()
                self._done.append(change)

    def undo(self) -> None:
        """moto's behaviour back (patches that require this one must be undone first)."""
        with _lock:
            while self._done:
                self._done[-1].undo()
                self._done.pop()
