"""What the inventory tests share: a crash between a write and its answer, and the DynamoDB calls a step makes."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from inventory import repository

from saga_local.core import aws_calls


class LambdaCrashed(Exception):
    """The invocation died after its write reached DynamoDB and before it answered (a timeout, an OOM)."""


@pytest.fixture
def crash_after_write() -> Iterator[Callable[[str], Callable[[], None]]]:
    """`recover = crash_after_write("reserve")`: the repository's write goes through, then the invocation
    dies; `recover()` brings the real repository function back for the retry."""
    restore: list[Callable[[], None]] = []

    def crash(name: str) -> Callable[[], None]:
        real = getattr(repository, name)

        def write_then_crash(*args: Any) -> Any:
            real(*args)
            raise LambdaCrashed(f"the invocation died after repository.{name}, before answering")

        setattr(repository, name, write_then_crash)
        restore.append(lambda: setattr(repository, name, real))
        return restore[-1]

    yield crash
    for undo in reversed(restore):
        undo()


@pytest.fixture
def dynamodb_calls() -> Callable[[], AbstractContextManager[list[str]]]:
    """`with dynamodb_calls() as calls:` lists the DynamoDB operations moto served meanwhile, in order
    (any table, the idempotency table too); a cancelled transaction or a failed condition is marked."""

    @contextmanager
    def watch() -> Iterator[list[str]]:
        calls: list[str] = []

        def listen(call: aws_calls.AwsCall, reply: aws_calls.Reply, _seconds: float) -> None:
            if call.service == "dynamodb":
                failed = reply[0] >= 400
                note = " (cancelled)" if call.operation == "TransactWriteItems" else " (condition failed)"
                calls.append(call.operation + (note if failed else ""))

        remove = aws_calls.add_listener(listen)
        try:
            yield calls
        finally:
            remove()

    return watch
