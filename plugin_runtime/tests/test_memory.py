"""IdleTrimmer: memory goes back to the OS only after the plugin has been idle."""

from __future__ import annotations

import asyncio
import sys

import pytest

from plugin_runtime.memory import IdleTrimmer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


async def test_trims_once_after_a_burst_of_handlers_ends() -> None:
    active = [0]
    trimmer = IdleTrimmer(lambda: active[0], delay_s=0.05)
    for _ in range(20):  # twenty requests finishing one after another
        trimmer.handler_ended()
        await asyncio.sleep(0.001)
    assert trimmer.trims == 0  # debounced: not on the hot path
    await asyncio.sleep(0.15)
    assert trimmer.trims == 1


async def test_does_not_trim_while_handlers_run() -> None:
    active = [2]
    trimmer = IdleTrimmer(lambda: active[0], delay_s=0.02)
    trimmer.handler_ended()  # one of three ended, two still run: no timer at all
    await asyncio.sleep(0.06)
    assert trimmer.trims == 0
    active[0] = 0
    trimmer.handler_ended()
    active[0] = 1  # new work arrived before the timer fired
    await asyncio.sleep(0.06)
    assert trimmer.trims == 0
