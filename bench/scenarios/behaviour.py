"""Behaviour scenarios: a slow reader must hold the plugin back, client aborts must
cancel the plugin's handlers. Each records a reading the judge decides on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.core.profiles import Profile
from bench.core.targets import BRIDGE, Target
from bench.core.units import MB
from bench.load.client import Connection
from bench.scenarios.base import RunContext, Scenario, ScenarioResult, check, wait_idle

# Before and after these scenarios: streams and handlers done (seconds at most).
SETTLE_TIMEOUT_S = 5.0
# A small receive buffer so the kernel cannot soak up the body for the slow reader.
SLOW_READER_RCVBUF = 64 * 1024
ABORT_AFTER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class BackpressureReading:
    """While a slow client read part of a large download: what the plugin grew by and
    how far the host read ahead of the client (None where a figure was unavailable)."""

    plugin_rss_growth_bytes: float | None
    host_pulled_ahead_bytes: float | None
    client_read_bytes: int
    body_size_bytes: int

    def to_extra(self) -> dict[str, object]:
        return {
            "client_read_bytes": self.client_read_bytes,
            "host_pulled_ahead_bytes": self.host_pulled_ahead_bytes,
            "plugin_rss_growth_bytes": self.plugin_rss_growth_bytes,
        }


@dataclass(frozen=True)
class AbortReading:
    """Around `aborts` client aborts: the plugin's and host's counters before and after."""

    aborts: int
    stats_before: dict[str, float]
    stats_after: dict[str, float]

    def to_extra(self) -> dict[str, object]:
        return {"stats_before": self.stats_before, "stats_after": self.stats_after}


@dataclass(frozen=True)
class SlowReader(Scenario):
    """Reads a large download at `bytes_per_s` for `seconds`: the backpressure verdict."""

    kind = "slow-reader"
    seconds: float = 3.0
    bytes_per_s: int = 4 * 1024 * 1024

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterator[Scenario]:
        yield cls(
            BRIDGE,
            chunk,
            size=profile.slow_reader_size,
            seconds=profile.slow_reader_seconds,
            bytes_per_s=profile.slow_reader_bytes_per_s,
        )

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        rate = self.bytes_per_s
        budget = int(self.seconds * rate)
        before = ctx.sampler.sample_now()
        read = [0]
        started = time.perf_counter()

        def throttle(data: memoryview) -> None:
            read[0] += len(data)
            ahead = read[0] / rate - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)

        with Connection(target.base_url, timeout=30.0, rcvbuf=SLOW_READER_RCVBUF) as conn:
            resp = conn.request(
                "GET",
                f"/download?size={self.size}&chunk={self.chunk}",
                on_body=throttle,
                stop_after=budget,
            )
            # Measure while the stream is still open (held back, not finished).
            during = ctx.sampler.sample_now()
        check(resp.status == 200, f"slow reader: HTTP {resp.status}")
        result.seconds = time.perf_counter() - started
        result.bytes = resp.body_bytes
        result.throughput_mb_s = resp.body_bytes / result.seconds / MB
        ahead_bytes = None
        host_read = [s.get("read_chars") for s in (before.get("host", {}), during.get("host", {}))]
        if all(v is not None for v in host_read):
            ahead_bytes = float(host_read[1] - host_read[0]) - resp.body_bytes  # type: ignore[operator]
        plugin_growth = None
        if "plugin" in during and "plugin" in before:
            plugin_growth = during["plugin"]["rss_bytes"] - before["plugin"]["rss_bytes"]
        elif "stats" in during and "plugin.rss_bytes" in during["stats"]:
            plugin_growth = during["stats"]["plugin.rss_bytes"] - before.get("stats", {}).get(
                "plugin.rss_bytes", during["stats"]["plugin.rss_bytes"]
            )
        result.reading = BackpressureReading(plugin_growth, ahead_bytes, resp.body_bytes, self.size)
        result.extra.update(result.reading.to_extra())
        wait_idle(ctx.sampler, SETTLE_TIMEOUT_S)


@dataclass(frozen=True)
class Abort(Scenario):
    """Closes (RST) mid-download, `requests` times: the abort-cleanup verdict."""

    kind = "abort"

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterator[Scenario]:
        yield cls(BRIDGE, chunk, size=profile.slow_reader_size, requests=profile.aborts)

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        _, before = wait_idle(ctx.sampler, SETTLE_TIMEOUT_S)
        for _ in range(self.requests):
            with Connection(target.base_url, timeout=30.0) as conn:
                resp = conn.request(
                    "GET",
                    f"/download?size={self.size}&chunk={self.chunk}",
                    stop_after=ABORT_AFTER_BYTES,
                )
            check(resp.status == 200, f"abort: HTTP {resp.status}")
            check(not resp.complete, "abort: body completed before the abort")
            result.latencies_s.append(resp.seconds)
        _, after = wait_idle(ctx.sampler, SETTLE_TIMEOUT_S)
        result.reading = AbortReading(self.requests, before, after)
        result.extra.update(result.reading.to_extra())
