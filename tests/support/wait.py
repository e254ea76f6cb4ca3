"""Polling with a deadline, instead of sleeping a fixed time and hoping that what a test waits for has happened."""

import time
from collections.abc import Callable
from typing import Literal


class WaitTimeout(AssertionError):
    """What a test waited for did not happen in time (an AssertionError: pytest shows it as a failure)."""


def wait_for[T](
    probe: Callable[[], T | Literal[False] | None],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "the condition",
) -> T:
    """Call `probe` every `interval` seconds until it returns a truthy value, and return that value; after
    `timeout` seconds raise WaitTimeout naming `message` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout} s waiting for {message}; last value: {value!r}")
        time.sleep(interval)


def stays[T](
    probe: Callable[[], T | Literal[False] | None],
    *,
    duration: float,
    interval: float = 0.05,
    message: str = "the condition",
) -> T:
    """Check that `probe` keeps returning a truthy value for `duration` seconds (something that must NOT happen
    has no event to wait for); the last value, or an AssertionError naming `message` as soon as it turns falsy."""
    deadline = time.monotonic() + duration
    while True:
        value = probe()
        if not value:
            raise AssertionError(f"{message} stopped holding; value: {value!r}")
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)
