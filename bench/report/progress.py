"""One progress line per finished scenario when stdout is not a terminal.

On a terminal the tqdm bar shows progress; in compose, CI or a pipe the bar
turns itself off, so without these lines a run prints nothing for minutes.
Like Locust's headless stats log: one plain line per step, with the figure
that matters and the time since the run began.
"""

from __future__ import annotations

import sys
import time
from typing import IO

from bench.scenarios.base import ScenarioResult


def key_figure(result: ScenarioResult) -> str:
    """The one figure that says how a scenario went."""
    if not result.ok:
        return f"FAILED: {result.error}"
    if result.throughput_mb_s is not None:
        return f"{result.throughput_mb_s:.0f} MB/s"
    rate = result.extra.get("requests_per_s")
    latency = result.latency_ms()
    if isinstance(rate, int | float) and latency:
        return f"{rate:.0f} req/s, p99 {latency['p99']:.1f} ms"
    if latency:
        return f"p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms"
    return "ok"


def progress_line(done: int, total: int, result: ScenarioResult, elapsed_s: float) -> str:
    width = len(str(total))
    return (
        f"[{done:>{width}}/{total}] {result.scenario.id}: {key_figure(result)} "
        f"({result.seconds:.2f} s; {elapsed_s:.0f} s into the run)"
    )


class ScenarioLog:
    """Prints progress_line for each finished scenario unless `out` is a terminal."""

    def __init__(self, out: IO[str] | None = None, started: float | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.started = time.monotonic() if started is None else started
        self.enabled = not (hasattr(self.out, "isatty") and self.out.isatty())

    def finished(self, done: int, total: int, result: ScenarioResult) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.started
            print(progress_line(done, total, result, elapsed), file=self.out, flush=True)
