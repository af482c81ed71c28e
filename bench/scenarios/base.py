"""What every scenario shares: its identity, the context it runs in, the result it fills.

A scenario kind is a frozen dataclass: the common fields say what is measured
(target, chunk setting, body size, concurrency, requests), the subclass adds
its own typed parameters and implements `run`. `plan` says which scenarios of
the kind a profile asks for. The registry of kinds is `bench.scenarios.SCENARIOS`.

A scenario measures and records; it decides nothing. What it read beyond
throughput and latency goes into `ScenarioResult.reading`, a typed record of its
kind that bench/judge turns into verdicts.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bench.core.numbers import percentile
from bench.core.polling import WaitTimeout, wait_until
from bench.core.profiles import Profile
from bench.core.targets import Target
from bench.core.units import human_size
from bench.load.client import TransferError
from bench.observe.cpu import cpu_now, cpu_spent
from bench.observe.samplers import Sampler, Window


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
    """What a scenario may use besides its target."""

    sampler: Sampler
    timeout_s: float = 120.0  # per transfer

    @contextlib.contextmanager
    def measuring_cpu(self, target: Target, result: ScenarioResult) -> Iterator[None]:
        """Adds to `result.cpu_seconds` what the target's processes (and the bench's
        client) spent inside, read at the start and at the end (bench/observe/cpu.py);
        a transfer that failed adds nothing."""
        before = cpu_now(self.sampler, target)
        yield
        for name, seconds in cpu_spent(before, cpu_now(self.sampler, target)).items():
            result.cpu_seconds[name] = result.cpu_seconds.get(name, 0.0) + seconds


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
    # Per process, the CPU seconds spent moving `bytes` (RunContext.measuring_cpu).
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    reading: Any = None  # the kind's typed record for the judge (see each kind's module)

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
    last: list[dict[str, float]] = [{}]

    def idle() -> bool:
        last[0] = sampler.latest_stats()
        return is_idle(last[0])

    try:
        wait_until(idle, timeout_s, interval=interval_s, what="no active stream or handler")
    except WaitTimeout:
        return False, last[0]
    return True, last[0]
