"""Drives one concurrency level against a running target and measures it.

The streams run on the bench's one N-streams runner (bench/load/streams.py); the
load generator's own CPU is sampled like any process (`client_cpu_cores`): near
1.0 the GIL, not the target, may be what limits the level, and the report says so.
Memory and CPU come from the shared sampler's timeline sliced by the level's
window (bench/observe/windows.py): psutil on the target's processes when the
bench spawned them, else their `/debug/stats`, plus container working sets.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

from bench.capacity.ramp import directions, process_peaks, summarize_level, transfers_per_stream
from bench.core.files import pattern_file_name
from bench.core.polling import WaitTimeout, wait_until
from bench.load.streams import StreamPlan, run_streams
from bench.observe.samplers import LOADGEN, Sampler, window_delta
from bench.observe.windows import window_figures
from bench.results.capacity import FILE, FILE_OFFLOAD, UPLOAD, LevelResult
from plugin_runtime.examples.pattern import pattern_sha256

log = logging.getLogger(__name__)

MIN_CLIENT_CPU_WINDOW_S = 0.25  # shorter levels: CPU seconds are counted in 10 ms ticks
# After streams failed, how long the engine gets to report a container that died
# with them: the clients see the reset before dockerd has recorded the exit (seen
# under load), and a level must not blame "connection" errors on a kill it missed.
CONTAINER_STATE_SETTLE_S = 15.0


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
    """(OOM-killed, otherwise stopped) containers among a compose run's services.

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
    except WaitTimeout:
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
    # Bytes per transfer at a level (--same-bytes scales them); default: the plan's.
    stream_bytes_at: Callable[[int], int] | None = None

    def __call__(self, concurrency: int) -> LevelResult:
        kinds = directions(self.mode, concurrency)
        size = self.stream_bytes_at(concurrency) if self.stream_bytes_at else self.plan.stream_bytes
        if UPLOAD in kinds:
            pattern_sha256(size)  # computed once, outside the window
        plan = dataclasses.replace(
            self.plan,
            stream_bytes=size,
            transfers=transfers_per_stream(concurrency, size, self.min_level_bytes),
            file_name=pattern_file_name(size) if self.mode in (FILE, FILE_OFFLOAD) else None,
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
        figures = window_figures(self.sampler.timeline, window, target, loadgen=False)
        level.processes = process_peaks(figures, level.bytes_moved, target.processes)
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
