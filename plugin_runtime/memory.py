"""glibc heap settings for a process that moves large messages, and giving memory back.

Two measured effects (docs/decisions.md):
- glibc serves allocations above its mmap threshold (128 KiB at start) with fresh
  mmap()s, so every message-sized buffer costs page faults and zeroing; keeping
  them in the heap cut plugin CPU per GiB from 2.7 to ~1.0 s at 1 MiB messages.
- The price is that freed heap memory stays with the process: after a burst of
  concurrent transfers RSS stayed at its peak (8 uploads + 8 downloads: 136 MiB
  with the plugin idle again), which under a container cap ratchets towards the
  OOM killer. `IdleTrimmer` hands it back with malloc_trim(0) once the plugin
  has been idle for a moment, so the cost is never paid on the hot path, and,
  under steady load (never idle), at most once a second as a handler ends:
  128 uploads + 128 downloads at once peaked 14 MiB lower with it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("plugin_runtime")

MALLOC_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
# glibc gives each thread that contends for the heap its own arena, up to 8 per
# core, and memory freed in one arena is not reused by another: C-core's threads
# and the event loop each kept their own high-water mark. Two arenas: 128 uploads
# + 128 downloads peaked at 97-99 MiB instead of 126-128 MiB, same MB/s and CPU.
MALLOC_ARENA_MAX = 2
# Idle this long (no handler running) before memory is handed back.
IDLE_TRIM_DELAY_S = 0.5
# While handlers keep running, trim at most this often (as one of them ends).
BUSY_TRIM_INTERVAL_S = 1.0


@functools.cache
def _glibc() -> Any | None:
    """libc when it is glibc (has mallopt and malloc_trim); None elsewhere (musl, macOS).

    Looked up once: find_library runs `ldconfig -p`, which must not happen on the
    event loop each time the stats endpoint asks for a trim."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    return libc


def tune_malloc() -> None:
    """Raise glibc's mmap threshold and cap its arenas (see the module doc); no-op
    elsewhere. Call it before the gRPC server starts its threads; an explicit
    MALLOC_ARENA_MAX in the environment wins."""
    libc = _glibc()
    if libc is None:
        return
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    libc.mallopt(m_mmap_threshold, MALLOC_MMAP_THRESHOLD_BYTES)
    libc.mallopt(m_trim_threshold, 2 * MALLOC_MMAP_THRESHOLD_BYTES)
    if "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(m_arena_max, MALLOC_ARENA_MAX)


def return_free_heap() -> bool:
    """malloc_trim(0) now (the plugin's side of the host's debug.FreeOSMemory);
    False where there is no glibc."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


class Timer(Protocol):
    def cancel(self) -> None: ...


# call_later(delay_s, callback) -> a cancellable timer, like asyncio's loop.call_later.
CallLater = Callable[[float, Callable[[], None]], Timer]


def _loop_call_later(delay_s: float, callback: Callable[[], None]) -> Timer:
    return asyncio.get_running_loop().call_later(delay_s, callback)


class IdleTrimmer:
    """Calls malloc_trim(0) when nothing has run for IDLE_TRIM_DELAY_S.

    `handler_ended()` is called as each handler finishes; when none is active it
    (re)arms one timer on the event loop, so a steady stream of short requests
    costs one timer reset each and a trim only happens after the burst.
    `call_later` schedules that timer (the running loop's by default; tests pass
    a manual clock so they need not race a real one).
    """

    def __init__(
        self,
        active_handlers: Callable[[], int],
        delay_s: float = IDLE_TRIM_DELAY_S,
        call_later: CallLater = _loop_call_later,
        busy_interval_s: float = BUSY_TRIM_INTERVAL_S,
    ) -> None:
        self._active_handlers = active_handlers
        self._delay_s = delay_s
        self._call_later = call_later
        self._libc = _glibc()
        self._timer: Timer | None = None
        self.trims = 0
        self.busy_trims = 0
        self._busy_interval_s = busy_interval_s
        self._last_trim = time.monotonic()

    def _trim_if_due(self) -> None:
        """Under steady load the plugin is never idle: trim at most every busy_interval_s,
        as handlers end, so freed message buffers go back instead of piling up."""
        if self._busy_interval_s <= 0:
            return
        now = time.monotonic()
        if now - self._last_trim < self._busy_interval_s:
            return
        self._last_trim = now
        assert self._libc is not None
        self._libc.malloc_trim(0)
        self.busy_trims += 1

    def handler_ended(self) -> None:
        if self._libc is None:
            return
        if self._active_handlers() > 0:
            self._trim_if_due()
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._call_later(self._delay_s, self._trim_if_idle)

    def _trim_if_idle(self) -> None:
        self._timer = None
        if self._active_handlers() > 0:
            return  # work arrived meanwhile; the next idle moment will trim
        assert self._libc is not None
        self._libc.malloc_trim(0)
        self.trims += 1
