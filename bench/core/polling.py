"""Waiting for a condition that has no event to wait on: poll it, with a deadline.

The one poll loop: services starting (bench/runner/ready.py), the capacity
ramp's container states and the tests use it.

The deadline bounds only a failure (a condition that never holds), so callers
choose it generous enough that a busy machine never trips it; how long the wait
really took is returned, for tests that report it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The condition did not hold within the deadline; `last` is the last answer."""

    def __init__(self, message: str, last: object) -> None:
        super().__init__(message)
        self.last = last


def wait_until(
    probe: Callable[[], T],
    timeout: float,
    *,
    interval: float = 0.01,
    what: str = "",
    retry_on: tuple[type[Exception], ...] = (),
) -> tuple[T, float]:
    """Call `probe` every `interval` seconds until it returns something truthy.

    Returns (that value, seconds waited). An exception of a `retry_on` type (a
    server not listening yet) counts as "not yet"; any other propagates. After
    `timeout` seconds raises WaitTimeout naming `what` and the last answer.
    """
    started = time.monotonic()
    while True:
        last: object
        try:
            value = probe()
        except retry_on as exc:
            last = exc
        else:
            if value:
                return value, time.monotonic() - started
            last = value
        if time.monotonic() - started >= timeout:
            name = what or repr(probe)
            raise WaitTimeout(f"not within {timeout:g} s: {name} (last: {last!r})", last)
        time.sleep(interval)
