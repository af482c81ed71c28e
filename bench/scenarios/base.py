"""What every scenario shares: its identity, the context it runs in, the result it fills.

A scenario kind is a frozen dataclass: the common fields say what is measured
(target, chunk setting, body size, concurrency, requests), the subclass adds
its own typed parameters and implements `run`. `plan` says which scenarios of
the kind a profile asks for. The registry of kinds is `bench.scenarios.SCENARIOS`.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bench.judge.verdicts import Tolerances, Verdict
from bench.load.client import TransferError
from bench.observe.samplers import Sampler, Window
from bench.runner.targets import Target
from bench.scenarios.profiles import Profile, human_size

MB = 1_000_000  # throughput is reported in MB/s (10^6 bytes per second)


@dataclass(frozen=True)
class Scenario:
    """One measurement against one target (ids like `download/bridge/256MiB/c64KiB`)."""

    kind: ClassVar[str]  # the registry's key and the first part of the id
    direction: ClassVar[str] = "-"  # "down", "up" or "both" for transfers

    target: str
    chunk: int
    size: int = 0  # body bytes per request
    concurrency: int = 1
    requests: int = 1

    @property
    def id(self) -> str:
        """Stable key across runs (compare matches scenarios by it)."""
        parts = [self.kind, self.target]
        if self.size:
            parts.append(human_size(self.size))
        if self.concurrency > 1:
            parts.append(f"x{self.concurrency}")
        parts.append(f"c{human_size(self.chunk)}")
        return "/".join(parts)

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterable[Scenario]:
        """The scenarios of this kind a profile runs at one chunk setting (every target)."""
        raise NotImplementedError

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        """Send the requests, check every answer, fill `result`; raise TransferError
        (or OSError, ValueError) when the target misbehaved."""
        raise NotImplementedError


@dataclass(frozen=True)
class RunContext:
    """What a scenario may use besides its target: the sampler and the verdicts' tolerances."""

    sampler: Sampler
    tolerances: Tolerances = field(default_factory=Tolerances)
    timeout_s: float = 120.0  # per transfer


@dataclass
class ScenarioResult:
    """What one scenario measured; bench.report turns it into a summary.json row."""

    scenario: Scenario
    target: Target
    window: Window | None = None
    ok: bool = True
    error: str | None = None
    seconds: float = 0.0
    bytes: int = 0
    throughput_mb_s: float | None = None
    latencies_s: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # the kind's own figures
    verdicts: list[Verdict] = field(default_factory=list)  # decided while it ran

    def latency_ms(self) -> dict[str, float] | None:
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        return {
            "p50": percentile(ordered, 50) * 1000,
            "p99": percentile(ordered, 99) * 1000,
            "mean": statistics.fmean(ordered) * 1000,
            "count": len(ordered),
        }


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def check(condition: bool, message: str) -> None:
    """A wrong answer fails the scenario with `message`."""
    if not condition:
        raise TransferError(message)


def is_idle(stats: dict[str, float]) -> bool:
    """No stream in the host and no handler in the plugin (no stats: nothing to wait for)."""
    return not stats or (
        stats.get("plugin.active_handlers", 0) == 0 and stats.get("host.active_streams", 0) == 0
    )


def wait_idle(
    sampler: Sampler, timeout_s: float, interval_s: float = 0.02
) -> tuple[bool, dict[str, float]]:
    """Poll /debug/stats until no stream or handler is active: (idle, the last reading).

    A handler the client gave up on is cancelled within milliseconds; the timeout
    only bounds a busy machine.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        stats = sampler.latest_stats()
        if is_idle(stats):
            return True, stats
        if time.monotonic() >= deadline:
            return False, stats
        time.sleep(interval_s)
