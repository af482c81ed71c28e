"""The one memory window: what each process serving a target did in a span of the
timeline (a scenario, a capacity level), read from the sampler's series.

Per process: psutil when the bench started it, else the running service's
`/debug/stats`, plus the working set of each of its containers (compose). The growth is the
peak in the window minus the reading at its start; CPU is the counter's rise.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.core.targets import Target
from bench.core.units import GiB
from bench.observe.samplers import LOADGEN, Timeline, Window, window_delta, window_growth
from bench.results.run import CPU_STEADY_BYTES

CONTAINER_PREFIX = "container:"


@dataclass(frozen=True)
class ProcessFigure:
    """One process (or container) in one window."""

    name: str  # "host", "plugin", "loadgen", "container:plugin", ...
    source: str  # "psutil", "stats" or "container"
    growth_bytes: float
    peak_bytes: float
    samples: int
    cpu_seconds: float | None = None  # spent in the window (psutil or stats)

    @property
    def is_container(self) -> bool:
        return self.source == "container"

    def cpu_per_gib(self, bytes_moved: int) -> float | None:
        """CPU seconds per GiB moved; None without CPU, or below CPU_STEADY_BYTES (a
        capacity level's window: the runtimes' background work would weigh as much as
        its transfers)."""
        if self.cpu_seconds is None or bytes_moved < CPU_STEADY_BYTES:
            return None
        return self.cpu_seconds / (bytes_moved / GiB)


def window_figures(
    timeline: Timeline, window: Window | None, target: Target, *, loadgen: bool = True
) -> list[ProcessFigure]:
    """Every figure of `target`'s processes (and the load generator's, and its
    containers') in `window`; empty without a window."""
    if window is None:
        return []
    out: list[ProcessFigure] = []
    for name in [*target.processes, *([LOADGEN] if loadgen else [])]:
        got = window_growth(timeline, name, "rss_bytes", window)
        if got is not None:
            cpu = window_delta(timeline, name, "cpu_seconds", window)
            out.append(ProcessFigure(name, "psutil", *got, cpu_seconds=cpu))
    if not target.processes:  # running services: their own /debug/stats figures
        for name, where in target.stats_processes.items():
            got = window_growth(timeline, where.source, where.key("rss_bytes"), window)
            if got is not None:
                cpu = window_delta(timeline, where.source, where.key("cpu_seconds"), window)
                out.append(ProcessFigure(name, "stats", *got, cpu_seconds=cpu))
    for service in target.containers:
        source = CONTAINER_PREFIX + service
        got = window_growth(timeline, source, "working_set_bytes", window)
        if got is not None:
            out.append(ProcessFigure(source, "container", *got))
    return out
