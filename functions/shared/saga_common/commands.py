"""Reading a step's command.

The state machine is the only caller, so a malformed command is a bug in the workflow: InvalidCommand,
a BusinessError (retrying cannot fix it). Messages name the field and the type found, never the value:
a command can carry a card token.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from saga_common.errors import InvalidCommand


def required[T](command: Mapping[str, Any], name: str, kind: type[T], *, at: str = "") -> T:
    """`command[name]`, which must be a `kind` (a non-empty one for str, never a bool for int).

    `at` locates a nested mapping in messages, e.g. at="items[1]." gives "items[1].sku must ...".
    """
    value = command.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidCommand(f"{at}{name} must be of type {kind.__name__}, got {type(value).__name__}")
    if isinstance(value, str) and not value.strip():
        raise InvalidCommand(f"{at}{name} must not be empty")
    return value


def positive_int(command: Mapping[str, Any], name: str, *, at: str = "") -> int:
    """A positive integer: a quantity, or money in minor units (1999 = 19.99)."""
    value = required(command, name, int, at=at)
    if value <= 0:
        raise InvalidCommand(f"{at}{name} must be a positive integer")
    return value


def currency(command: Mapping[str, Any], name: str = "currency") -> str:
    """An ISO 4217 code: three upper-case letters."""
    value = required(command, name, str)
    if len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
        raise InvalidCommand(f"{name} must be an ISO 4217 code such as USD")
    return value


def objects(command: Mapping[str, Any], name: str, *, what: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each entry of the non-empty list `command[name]`, which must be a mapping (`what` says which, in messages),
    with its location for `required(..., at=...)`: ("items[0].", {...}), ("items[1].", {...}), ..."""
    entries = required(command, name, list)
    if not entries:
        raise InvalidCommand(f"{name} must not be empty")
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise InvalidCommand(f"{name}[{index}] must be {what}")
        yield f"{name}[{index}].", entry
