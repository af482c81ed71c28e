"""Request-rate and latency scenarios: small GETs, requests/s from many connections, SSE."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.core.numbers import percentile
from bench.core.profiles import Profile
from bench.core.targets import BRIDGE, BUFFERED, GO_DIRECT, GO_PLUGIN, PYTHON_DIRECT, Target
from bench.load import rps
from bench.load.client import Connection
from bench.observe.cpu import cpu_now
from bench.scenarios.base import RunContext, Scenario, ScenarioResult, check
from plugin_runtime.examples.pattern import PatternVerifier

SMALL_BODY_BYTES = 1024
# Every target that answers small GETs (the gRPC floor answers with a count, not a body).
SMALL_TARGETS = (BRIDGE, GO_DIRECT, PYTHON_DIRECT, BUFFERED, GO_PLUGIN)


def small_path(target: Target, size: int) -> str:
    """The body in one write: a chunk-sized buffer per request (the Go-direct route
    allocates one) would be measured instead of the request path."""
    return f"{target.download_path}?size={size}&chunk={size}"


@dataclass(frozen=True)
class Small(Scenario):
    """1 KiB GETs one after another on one keep-alive connection: p50/p99 per request."""

    kind = "small"

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterator[Scenario]:
        for target in SMALL_TARGETS:
            yield cls(target, chunk, size=SMALL_BODY_BYTES, requests=profile.small_requests)

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        path = small_path(target, self.size)
        with Connection(target.base_url, timeout=10.0) as conn:
            for _ in range(self.requests):
                verifier = PatternVerifier()
                resp = conn.request("GET", path, on_body=verifier.update)
                check(resp.status == 200 and resp.complete, f"small request: {resp.status}")
                result.latencies_s.append(resp.seconds)
        result.seconds = sum(result.latencies_s)
        result.bytes = self.size * self.requests
        result.extra["requests_per_s"] = self.requests / result.seconds


@dataclass(frozen=True)
class Rps(Scenario):
    """1 KiB GETs from `concurrency` keep-alive connections at once for `seconds`
    (after an unmeasured warm-up), by bin/loadgen: requests/s (bench/load/rps.py)."""

    kind = "rps"
    seconds: float = 1.0
    warmup_s: float = 0.3

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterator[Scenario]:
        for target in SMALL_TARGETS:
            yield cls(
                target,
                chunk,
                size=SMALL_BODY_BYTES,
                concurrency=profile.rps_connections,
                seconds=profile.rps_seconds,
                warmup_s=profile.rps_warmup_s,
            )

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        load, figures = rps.measure(
            target.base_url,
            small_path(target, self.size),
            connections=self.concurrency,
            seconds=self.seconds,
            warmup_s=self.warmup_s,
            expect_bytes=self.size,
            processes=target.process_names,
            read_processes=lambda: cpu_now(ctx.sampler, target, client=False),
        )
        result.extra.update(figures)
        check(load.errors == 0, f"{load.errors} requests failed, first: {load.first_error}")
        check(load.requests > 0, "no request completed")
        result.seconds = load.seconds
        result.bytes = self.size * load.requests
        result.latencies_s = load.latencies_s


@dataclass(frozen=True)
class Sse(Scenario):
    """GET /sse: time to the first event, the event count and the content type."""

    kind = "sse"
    events: int = 3
    interval_ms: int = 20

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterator[Scenario]:
        yield cls(BRIDGE, chunk, requests=profile.sse_runs)

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        totals = []
        for _ in range(self.requests):
            first: list[float] = []
            seen = bytearray()
            started = time.perf_counter()

            def on_body(data: memoryview, first: list[float] = first, seen: bytearray = seen):
                seen.extend(data)
                if not first and b"data:" in seen:
                    first.append(time.perf_counter())

            with Connection(target.base_url, timeout=10.0) as conn:
                resp = conn.request(
                    "GET",
                    f"/sse?events={self.events}&interval_ms={self.interval_ms}",
                    on_body=on_body,
                )
            check(resp.status == 200 and resp.complete, f"sse: HTTP {resp.status}")
            ctype = resp.header("Content-Type") or ""
            check(ctype.startswith("text/event-stream"), f"sse content type {ctype!r}")
            count = seen.count(b"data:")
            check(count == self.events, f"sse gave {count} events, not {self.events}")
            check(bool(first), "sse: no event seen")
            result.latencies_s.append(first[0] - started)
            totals.append(resp.seconds)
        result.seconds = sum(totals)
        result.extra["time_to_first_event_ms_p50"] = (
            percentile(sorted(result.latencies_s), 50) * 1000
        )
        result.extra["stream_seconds_mean"] = statistics.fmean(totals)
