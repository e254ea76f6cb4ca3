"""A function's settings: a frozen dataclass read from the environment once, every field required.

Each service declares its own (`<service>/settings.py`) on `FunctionSettings`: a field is read from the variable
of its upper-cased name (`orders_table: str` from ORDERS_TABLE), converted to the field's type (str or int). A
missing, empty or malformed variable raises ConfigurationError naming it, when the settings are read: in the init
phase of a Lambda execution environment (saga_common.entry reads them when the handler module is imported), on
first use elsewhere; never in the middle of a step. No field has a default:
template.yaml sets every value, so a value lives in one place.

This is the one module that reads os.environ (Powertools reads its own POWERTOOLS_* variables).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self, cast, get_type_hints

from saga_common.errors import ConfigurationError


@dataclass(frozen=True)
class FunctionSettings:
    """The base of every function's settings: how they are read (it declares no field itself)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings from `environ` (os.environ by default); ConfigurationError names the first variable that is
        missing, empty or not of its field's type."""
        source = os.environ if environ is None else environ
        types = get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in fields(cls):
            variable = field.name.upper()
            raw = source.get(variable, "")
            if not raw.strip():
                raise ConfigurationError(f"{variable} is not set: template.yaml sets it in the function's Environment")
            values[field.name] = _convert(variable, raw, types[field.name])
        return cls(**values)


def _convert(variable: str, raw: str, kind: type) -> str | int:
    if kind is str:
        return raw
    if kind is int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{variable} must be a whole number, got {raw!r}") from None
        if value < 0:
            raise ConfigurationError(f"{variable} must not be negative, got {raw!r}")
        return value
    raise TypeError(f"a setting is a str or an int: {variable} is declared {kind}")


_loaded: dict[type[FunctionSettings], FunctionSettings] = {}


def load[S: FunctionSettings](kind: type[S]) -> S:
    """The settings of type `kind`, read from the environment on the first call and kept for the life of the
    execution environment."""
    if kind not in _loaded:
        _loaded[kind] = kind.from_environment()
    return cast("S", _loaded[kind])  # keyed by its own type


def preload(kind: type[FunctionSettings]) -> None:
    """Read the settings now when this is a Lambda execution environment (Lambda sets _HANDLER in every one): a
    missing variable then fails the init phase, before the first event. Elsewhere (tests, tools reading a handler's
    table) they are read on first use."""
    if "_HANDLER" in os.environ:
        load(kind)


def reset() -> None:
    """Forget the settings read (tests change the environment between cases)."""
    _loaded.clear()
