"""IdleTrimmer under steady load: at most one trim per busy interval as handlers end."""

from __future__ import annotations

import sys
import time

import pytest

from plugin_runtime.memory import IdleTrimmer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


async def test_trims_at_most_once_per_interval_while_busy() -> None:
    trimmer = IdleTrimmer(lambda: 5, delay_s=60.0, busy_interval_s=0.05)
    for _ in range(100):  # handlers ending while others keep running: not due yet
        trimmer.handler_ended()
    assert trimmer.busy_trims == 0
    deadline = time.monotonic() + 0.06
    while time.monotonic() < deadline:
        pass  # let the interval pass without yielding to anything else
    for _ in range(100):
        trimmer.handler_ended()
    assert trimmer.busy_trims == 1  # once, however many handlers ended
    assert trimmer.trims == 0  # never idle: the idle trim did not run


async def test_busy_trim_can_be_turned_off() -> None:
    trimmer = IdleTrimmer(lambda: 5, busy_interval_s=0.0)
    for _ in range(10):
        trimmer.handler_ended()
    assert trimmer.busy_trims == 0
