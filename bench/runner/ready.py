"""Poll until a service is ready: its URL answers 200, unless what serves it died first.

One loop for every service the bench starts: spawned processes (bench/runner/stack.py)
and container pairs (bench/runner/container_pair.py).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

from bench.core.polling import WaitTimeout, wait_until


def answers_ok(url: str, timeout_s: float) -> str | None:
    """None when GET url answers 200, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return None if resp.status == 200 else f"HTTP {resp.status}"
    except (urllib.error.URLError, OSError) as exc:
        return str(exc)


def poll_until_ready(
    url: str,
    timeout_s: float,
    *,
    interval_s: float,
    check_alive: Callable[[], None] = lambda: None,
    request_timeout_s: float = 1.0,
) -> str | None:
    """Poll url until it answers 200: None then; at the deadline, the last error.

    `check_alive` runs before every attempt and raises when what should serve the
    URL has exited, so a crash fails at once instead of at the deadline.
    """
    last_problem: list[str] = []

    def ready() -> bool:
        check_alive()
        problem = answers_ok(url, request_timeout_s)
        if problem is not None:
            last_problem[:] = [problem]
        return problem is None

    try:
        wait_until(ready, timeout_s, interval=interval_s, what=f"{url} answering 200")
    except WaitTimeout:
        return last_problem[0]
    return None
