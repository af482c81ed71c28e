"""The one N-streams runner: N transfers at once, one thread and connection each,
released together at a barrier, every failure classified.

Threads, because the work per byte is a syscall and a memcmp, both of which
release the GIL; a stream's transfers run back to back on its keep-alive
connection. The capacity ramp runs its levels with it, the `concurrent` scenario
its parallel downloads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.core.targets import Target
from bench.load.client import Connection, Response, TransferError
from bench.load.transfers import TransferFailed, download, file_download, upload
from bench.results.capacity import DOWNLOAD, FILE, FILE_OFFLOAD, UPLOAD

START_TIMEOUT_S = 120.0  # every stream thread is at the barrier well before this


@dataclass(frozen=True)
class StreamPlan:
    """What every stream does (only the direction differs)."""

    target: Target
    stream_bytes: int  # body bytes per transfer
    chunk: int  # the demo's write size and the upload's piece size
    timeout_s: float  # per socket operation: a stalled stream fails as "timeout"
    transfers: int = 1  # back to back on the stream's keep-alive connection
    file_name: str | None = None  # for file directions: a file of stream_bytes bytes


@dataclass(frozen=True)
class StreamOutcome:
    """One stream: what moved, how fast, and how it failed if it did."""

    direction: str
    bytes: int  # body bytes of the transfers that completed (verified)
    seconds: float  # summed over its transfers: request start -> last byte / the answer
    ttfbs_s: tuple[float, ...] = ()  # request start -> status line, per download (an
    # upload's answer comes after its whole body, so its "first byte" is the transfer)
    error: str | None = None  # kind: "503" (any status), "truncated", "corrupt", "timeout", ...
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def _transfer(direction: str) -> Callable[[Connection, StreamPlan], Response]:
    if direction == DOWNLOAD:
        return lambda conn, p: download(conn, p.target, p.stream_bytes, p.chunk)
    if direction == UPLOAD:
        return lambda conn, p: upload(conn, p.target, p.stream_bytes, p.chunk)
    if direction in (FILE, FILE_OFFLOAD):
        offload = direction == FILE_OFFLOAD

        def fetch(conn: Connection, p: StreamPlan) -> Response:
            if p.file_name is None:
                raise ValueError("a file stream needs the plan's file_name")
            return file_download(
                conn, p.target, p.file_name, p.stream_bytes, p.chunk, offload=offload
            )

        return fetch
    raise ValueError(f"unknown stream direction {direction!r}")


def run_stream(plan: StreamPlan, direction: str, start: threading.Barrier) -> StreamOutcome:
    """One stream: waits at the start barrier, then plan.transfers transfers on one
    connection; the first failure ends it, classified by kind."""
    once = _transfer(direction)
    moved, seconds, ttfbs = 0, 0.0, []
    try:
        start.wait(START_TIMEOUT_S)
        with Connection(plan.target.base_url, timeout=plan.timeout_s) as conn:
            for _ in range(plan.transfers):
                resp = once(conn, plan)
                moved += plan.stream_bytes
                seconds += resp.seconds
                if direction != UPLOAD:  # an upload is answered after its whole body
                    ttfbs.append(resp.ttfb_s)
    except threading.BrokenBarrierError:
        kind, detail = "client", "the start barrier broke"
    except TransferFailed as exc:
        kind, detail = exc.kind, str(exc)
    except (OSError, TransferError) as exc:
        kind = "timeout" if isinstance(exc, TimeoutError) else "connection"
        detail = f"{type(exc).__name__}: {exc}"
    else:
        return StreamOutcome(direction, moved, seconds, tuple(ttfbs))
    return StreamOutcome(direction, moved, seconds, tuple(ttfbs), kind, detail[:200])


def run_streams(plan: StreamPlan, directions: Sequence[str]) -> tuple[float, list[StreamOutcome]]:
    """All streams at once (one thread each, released together); (wall seconds, outcomes)."""
    start = threading.Barrier(len(directions) + 1)
    with ThreadPoolExecutor(len(directions), thread_name_prefix="bench-stream") as pool:
        futures = [pool.submit(run_stream, plan, d, start) for d in directions]
        try:
            start.wait(START_TIMEOUT_S)
        except threading.BrokenBarrierError:
            pass  # each stream reports it as a client failure
        started = time.perf_counter()
        outcomes = [f.result() for f in futures]
        seconds = time.perf_counter() - started
    return seconds, outcomes
