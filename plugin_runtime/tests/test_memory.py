"""IdleTrimmer: memory goes back to the OS only after the plugin has been idle.

The debounce is checked on a manual clock (no race against a real timer on a busy
machine); one test checks the default wiring to the running event loop.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from plugin_runtime import memory
from plugin_runtime.memory import IdleTrimmer

from .conftest import wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


@dataclass
class ManualTimer:
    due: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class ManualClock:
    """call_later on a clock that moves only when the test says so."""

    now: float = 0.0
    timers: list[ManualTimer] = field(default_factory=list)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> ManualTimer:
        timer = ManualTimer(self.now + delay_s, callback)
        self.timers.append(timer)
        return timer

    @property
    def pending(self) -> int:
        return sum(not t.cancelled for t in self.timers)

    def advance(self, seconds: float) -> None:
        """Move the clock on, firing every live timer that falls due, in order."""
        self.now += seconds
        for timer in sorted(self.timers, key=lambda t: t.due):
            if timer.due <= self.now and not timer.cancelled:
                self.timers.remove(timer)
                timer.callback()


def test_trims_once_after_a_burst_of_handlers_ends() -> None:
    clock = ManualClock()
    trimmer = IdleTrimmer(lambda: 0, delay_s=0.05, call_later=clock.call_later)
    for _ in range(20):  # twenty requests finishing 1 ms apart
        trimmer.handler_ended()
        clock.advance(0.001)
        assert clock.pending == 1  # each end re-arms the one timer
    assert trimmer.trims == 0  # debounced: not on the hot path
    clock.advance(0.05 - 0.001 - 0.0001)
    assert trimmer.trims == 0  # not before the plugin has been idle for the delay
    clock.advance(0.0002)
    assert trimmer.trims == 1
    clock.advance(10)
    assert trimmer.trims == 1 and clock.pending == 0  # one trim per idle moment


def test_does_not_trim_while_handlers_run() -> None:
    clock = ManualClock()
    active = [2]
    trimmer = IdleTrimmer(lambda: active[0], delay_s=0.02, call_later=clock.call_later)
    trimmer.handler_ended()  # one of three ended, two still run: no timer at all
    assert clock.pending == 0
    clock.advance(1)
    assert trimmer.trims == 0
    active[0] = 0
    trimmer.handler_ended()
    active[0] = 1  # new work arrived before the timer fired
    clock.advance(1)
    assert trimmer.trims == 0
    active[0] = 0
    trimmer.handler_ended()  # the next idle moment does trim
    clock.advance(1)
    assert trimmer.trims == 1


async def test_default_timer_runs_on_the_event_loop() -> None:
    trimmer = IdleTrimmer(lambda: 0, delay_s=0.01)
    trimmer.handler_ended()
    await wait_for(lambda: trimmer.trims > 0)  # only a broken timer takes long
    assert trimmer.trims == 1


@dataclass
class RecordingLibc:
    """Stands in for glibc: records mallopt calls."""

    calls: list[tuple[int, int]] = field(default_factory=list)

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        return 1


M_ARENA_MAX = -8


@pytest.mark.parametrize(
    ("env", "arena_max"),
    [({}, memory.MALLOC_ARENA_MAX), ({"MALLOC_ARENA_MAX": "4"}, None)],
    ids=["default: capped", "environment wins"],
)
def test_tune_malloc_caps_arenas_unless_the_environment_says(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], arena_max: int | None
) -> None:
    libc = RecordingLibc()
    monkeypatch.setattr(memory, "_glibc", lambda: libc)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    memory.tune_malloc()
    settings = dict(libc.calls)
    assert settings.get(M_ARENA_MAX) == arena_max
    assert settings[-3] == memory.MALLOC_MMAP_THRESHOLD_BYTES  # M_MMAP_THRESHOLD
