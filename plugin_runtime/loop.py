"""The event loop the plugin runs on: uvloop when it is installed, as uvicorn's `--loop auto`.

grpc.aio hands every completed operation from its poller thread to the event
loop, so the loop's own cost per wake-up and per callback is a large share of a
small request's CPU; uvloop's is lower (measured: docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable

LOOPS = ("auto", "asyncio", "uvloop")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class LoopUnavailableError(RuntimeError):
    """--loop uvloop was asked for and uvloop cannot be imported."""


def choose_loop(name: str) -> tuple[str, LoopFactory | None]:
    """The loop `name` (one of LOOPS) resolves to and its factory for asyncio.Runner
    (None: asyncio's default loop)."""
    if name not in LOOPS:
        raise ValueError(f"--loop {name!r}: expected one of {', '.join(LOOPS)}")
    if name == "asyncio":
        return "asyncio", None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError as exc:
        if name == "uvloop":
            raise LoopUnavailableError(
                f"--loop uvloop: uvloop cannot be imported ({exc}); install it or use "
                "--loop asyncio"
            ) from exc
        return "asyncio", None
    factory: LoopFactory = uvloop.new_event_loop
    return "uvloop", factory
