"""Drives one concurrency level against a running target and measures it.

The client: one thread per stream, each with its own `bench.load.client.Connection`
(a raw-socket HTTP/1.1 client that reads into one reused buffer and checks the
pattern with a memcmp per read; an upload adds the connection's sender thread).
Threads, because the work per byte is a syscall and a memcmp, both of which
release the GIL; all streams start together at a barrier. The load generator's
own CPU is sampled like any process (`client_cpu_cores`): near 1.0 the GIL, not
the target, may be what limits the level, and the report says so.

Memory and CPU come from the shared `bench.observe.samplers.Sampler` timeline, sliced by
the window marked around the level: psutil on the target's processes when the
bench spawned them, else `/debug/stats`, plus container working sets (compose).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psutil

from bench.capacity.model import DOWNLOAD, UPLOAD, LevelResult, ProcessPeak, StreamOutcome
from bench.capacity.ramp import cpu_per_gib, directions, summarize_level, transfers_per_stream
from bench.judge.assess import STATS_PROCESSES
from bench.load.client import Connection, Response, TransferError
from bench.observe.samplers import LOADGEN, Sampler, Window, window_delta, window_growth
from bench.polling import wait_until
from bench.runner.targets import Target
from plugin_runtime.examples.pattern import (
    PatternMismatch,
    PatternVerifier,
    pattern_chunks,
    pattern_sha256,
)

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # every stream thread is at the barrier well before this
MIN_CLIENT_CPU_WINDOW_S = 0.25  # shorter levels: CPU seconds are counted in 10 ms ticks
# After streams failed, how long the engine gets to report a container that died
# with them: the clients see the reset before dockerd has recorded the exit (seen
# under load), and a level must not blame "connection" errors on a kill it missed.
CONTAINER_STATE_SETTLE_S = 15.0


@dataclass(frozen=True)
class StreamPlan:
    """What every stream of a level does (only the direction differs)."""

    target: Target
    stream_bytes: int  # body bytes per transfer
    chunk: int  # the demo's write size and the upload's piece size
    timeout_s: float  # per socket operation: a stalled stream fails as "timeout"
    transfers: int = 1  # back to back on the stream's keep-alive connection


class TransferFailed(Exception):
    """A transfer whose answer was wrong, with the error kind the report counts."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def download_once(conn: Connection, plan: StreamPlan) -> Response:
    """GET /download; every byte checked against the pattern as it arrives."""
    verifier = PatternVerifier()
    corrupt: list[str] = []

    def on_body(data: memoryview) -> None:
        # Noted, not raised: an error page (a 503 from admission control) is no
        # pattern either, and its status is the better name for what went wrong.
        if not corrupt:
            try:
                verifier.update(data)
            except PatternMismatch as exc:
                corrupt.append(str(exc))

    size = plan.stream_bytes
    path = f"{plan.target.download_path}?size={size}&chunk={plan.chunk}"
    resp = conn.request("GET", path, on_body=on_body)
    if resp.status != 200:
        raise TransferFailed(str(resp.status), f"HTTP {resp.status}")
    if corrupt:
        raise TransferFailed("corrupt", corrupt[0])
    if not resp.complete or resp.body_bytes != size:
        raise TransferFailed("truncated", f"{resp.body_bytes} of {size} bytes")
    return resp


def upload_once(conn: Connection, plan: StreamPlan) -> Response:
    """POST /upload from a generator; the server's byte count and sha256 must match."""
    size = plan.stream_bytes
    resp = conn.request(
        "POST",
        plan.target.upload_path,
        body=pattern_chunks(size, plan.chunk),
        content_length=size,
        keep_body=True,
        headers={"Content-Type": "application/octet-stream"},
    )
    if resp.status != 200:
        raise TransferFailed(str(resp.status), f"HTTP {resp.status} {resp.body[:100]!r}")
    try:
        answer = json.loads(resp.body)
    except ValueError:
        raise TransferFailed("corrupt", f"answer is not JSON: {resp.body[:100]!r}") from None
    if answer.get("bytes") != size:
        raise TransferFailed("truncated", f"server counted {answer.get('bytes')} of {size}")
    if answer.get("sha256") != pattern_sha256(size):
        raise TransferFailed("corrupt", "sha256 differs from what was sent")
    return resp


TRANSFERS: dict[str, Callable[[Connection, StreamPlan], Response]] = {
    DOWNLOAD: download_once,
    UPLOAD: upload_once,
}


def run_stream(plan: StreamPlan, direction: str, start: threading.Barrier) -> StreamOutcome:
    """One stream: waits at the level's start barrier, then plan.transfers transfers
    on one connection; the first failure ends it, classified by kind."""
    once = TRANSFERS[direction]
    moved, seconds, ttfbs = 0, 0.0, []
    try:
        start.wait(START_TIMEOUT_S)
        with Connection(plan.target.base_url, timeout=plan.timeout_s) as conn:
            for _ in range(plan.transfers):
                resp = once(conn, plan)
                moved += plan.stream_bytes
                seconds += resp.seconds
                if direction == DOWNLOAD:  # an upload is answered after its whole body
                    ttfbs.append(resp.ttfb_s)
    except threading.BrokenBarrierError:
        kind, detail = "client", "the level's start barrier broke"
    except TransferFailed as exc:
        kind, detail = exc.kind, str(exc)
    except (OSError, TransferError) as exc:
        kind = "timeout" if isinstance(exc, TimeoutError) else "connection"
        detail = f"{type(exc).__name__}: {exc}"
    else:
        return StreamOutcome(direction, moved, seconds, tuple(ttfbs))
    return StreamOutcome(direction, moved, seconds, tuple(ttfbs), kind, detail[:200])


def run_streams(plan: StreamPlan, kinds: list[str]) -> tuple[float, list[StreamOutcome]]:
    """All streams at once (one thread each, released together); (wall seconds, outcomes)."""
    start = threading.Barrier(len(kinds) + 1)
    with ThreadPoolExecutor(len(kinds), thread_name_prefix="capacity-stream") as pool:
        futures = [pool.submit(run_stream, plan, kind, start) for kind in kinds]
        try:
            start.wait(START_TIMEOUT_S)
        except threading.BrokenBarrierError:
            pass  # each stream reports it as a client failure
        started = time.perf_counter()
        outcomes = [f.result() for f in futures]
        seconds = time.perf_counter() - started
    return seconds, outcomes


def process_peaks(sampler: Sampler, target: Target, window: Window) -> list[ProcessPeak]:
    """Peak memory (and CPU seconds) of each process serving the target in the window."""
    timeline = sampler.timeline
    peaks = []
    for name in target.processes:
        got = window_growth(timeline, name, "rss_bytes", window)
        if got is not None:
            cpu = window_delta(timeline, name, "cpu_seconds", window)
            peaks.append(ProcessPeak(name, "psutil", got[1], cpu))
    if not target.processes:  # running services: their own /debug/stats figures
        for name, key in STATS_PROCESSES.items():
            got = window_growth(timeline, "stats", key, window)
            if got is not None:
                peaks.append(ProcessPeak(name, "stats", got[1]))
    for source in timeline.sources():
        if source.startswith("container:"):
            got = window_growth(timeline, source, "working_set_bytes", window)
            if got is not None:
                peaks.append(ProcessPeak(source, "container", got[1]))
    return peaks


def exited_processes(processes: Mapping[str, int]) -> list[str]:
    """Spawned processes that are gone (or zombies) after a level: they crashed."""
    gone = []
    for name, pid in processes.items():
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                gone.append(name)
        except psutil.NoSuchProcess:
            gone.append(name)
    return gone


def containers_down(
    containers: Mapping[str, Any], settle_s: float = 0.0, poll_s: float = 0.25
) -> tuple[list[str], list[str]]:
    """(OOM-killed, otherwise stopped) containers among a compose run's plugin and host.

    Only a container that is not running counts: each ramp starts with every
    container running (the command starts a killed one again), and one process per
    container means a kill ends it, so a stale OOMKilled flag cannot count twice.
    With `settle_s` (streams failed), the engine's state is read again until one
    container is down or settle_s has passed."""

    def down() -> tuple[list[str], list[str]] | None:
        killed, stopped = _containers_down_now(containers)
        return (killed, stopped) if killed or stopped else None

    if settle_s <= 0:
        return _containers_down_now(containers)
    try:
        found, _ = wait_until(down, settle_s, interval=poll_s, what="a container down")
    except AssertionError:
        return [], []  # every container stayed up: the failures were the streams' own
    return found


def _containers_down_now(containers: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    from bench.observe.container_memory import ContainerMemory

    killed, stopped = [], []
    for service, container in containers.items():
        try:
            container.reload()
        except Exception as exc:  # the engine hiccuped: no evidence either way
            log.warning("state of container %s unavailable: %s", service, exc)
            continue
        state = ContainerMemory(service, str(container.name))
        state.observe_state(container.attrs)  # an exit status of 137 counts as OOM too
        if not state.running:
            (killed if state.oom_killed else stopped).append(f"container:{service}")
    return killed, stopped


@dataclass
class LevelRunner:
    """Callable per concurrency level for `ramp.run_ramp`: runs it, returns its figures."""

    sampler: Sampler
    plan: StreamPlan
    mode: str
    min_level_bytes: int = 0  # low levels repeat transfers until they move this much
    containers: Mapping[str, Any] | None = None  # compose: service -> docker Container

    def __call__(self, concurrency: int) -> LevelResult:
        kinds = directions(self.mode, concurrency)
        if UPLOAD in kinds:
            pattern_sha256(self.plan.stream_bytes)  # computed once, outside the window
        size = self.plan.stream_bytes
        plan = dataclasses.replace(
            self.plan, transfers=transfers_per_stream(concurrency, size, self.min_level_bytes)
        )
        target = plan.target
        window = self.sampler.mark(f"capacity/{target.name}/{self.mode}/x{concurrency}")
        try:
            seconds, outcomes = run_streams(plan, kinds)
        finally:
            self.sampler.close(window)
        level = summarize_level(
            target.name, self.mode, concurrency, size, plan.transfers, seconds, outcomes
        )
        level.processes = cpu_per_gib(
            process_peaks(self.sampler, target, window), level.bytes_moved
        )
        client_cpu = window_delta(self.sampler.timeline, LOADGEN, "cpu_seconds", window)
        span = (window.end or window.start) - window.start
        if client_cpu is not None and span >= MIN_CLIENT_CPU_WINDOW_S:
            level.client_cpu_cores = client_cpu / span
        level.exited = exited_processes(target.processes)
        if self.containers:
            settle_s = CONTAINER_STATE_SETTLE_S if level.streams_ok < concurrency else 0.0
            level.oom_killed, stopped = containers_down(self.containers, settle_s)
            level.exited += stopped
        return level
