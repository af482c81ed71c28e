"""The engine: runs one Scenario against one Target and returns what it measured.

Every byte is checked: downloads against the demo pattern as they arrive,
uploads by the sha256 the server reports. Memory figures come from the sampler's
timeline, sliced by the window the engine marks around each scenario.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.judge import verdicts
from bench.load.client import (
    Connection,
    PatternVerifier,
    Response,
    TransferError,
    pattern_chunks,
    pattern_sha256,
)
from bench.observe.samplers import Sampler, Window
from bench.scenarios import GO_DIRECT, Scenario

log = logging.getLogger(__name__)

MB = 1_000_000  # throughput is reported in MB/s (10^6 bytes per second)
# A handler the client gave up on is cancelled within milliseconds; this bounds a busy machine.
QUIESCENCE_TIMEOUT_S = 30.0


@dataclass
class Target:
    """Where a scenario sends its requests, and which processes serve them."""

    name: str
    base_url: str  # plugin-style routes below it: /download, /upload, /echo, ...
    processes: dict[str, int] = field(default_factory=dict)  # name -> pid (spawned only)
    download_path: str = "/download"
    upload_path: str = "/upload"

    @classmethod
    def go_direct(cls, host_url: str, processes: dict[str, int]) -> Target:
        return cls(GO_DIRECT, host_url, processes, "/direct/download", "/direct/upload")


@dataclass
class ScenarioResult:
    scenario: Scenario
    target: Target
    window: Window | None = None
    ok: bool = True
    error: str | None = None
    seconds: float = 0.0
    bytes: int = 0
    throughput_mb_s: float | None = None
    latencies_s: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    verdicts: list[verdicts.Verdict] = field(default_factory=list)

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


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise TransferError(message)


class Engine:
    def __init__(
        self,
        sampler: Sampler,
        tolerances: verdicts.Tolerances | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        self.sampler = sampler
        self.tolerances = tolerances or verdicts.Tolerances()
        self.timeout_s = timeout_s

    def run(self, scenario: Scenario, target: Target) -> ScenarioResult:
        result = ScenarioResult(scenario, target)
        runner: Callable[[Scenario, Target, ScenarioResult], None] = getattr(
            self, "_run_" + scenario.kind.replace("-", "_")
        )
        if scenario.size:
            pattern_sha256(scenario.size)  # precomputed outside the window
        result.window = self.sampler.mark(scenario.id)
        started = time.perf_counter()
        try:
            runner(scenario, target, result)
        except (TransferError, OSError, ValueError) as exc:
            result.ok = False
            result.error = f"{type(exc).__name__}: {exc}"
            log.error("scenario %s failed: %s", scenario.id, result.error)
        finally:
            if not result.seconds:
                result.seconds = time.perf_counter() - started
            self.sampler.close(result.window)
        return result

    def warm_up(self, target: Target, chunk: int) -> None:
        """One unmeasured download and upload, so first-use allocations (Go runtime,
        gRPC channel, Python imports) are not counted as the first scenario's growth."""
        try:
            self._download_once(target, 4 * 1024 * 1024, chunk)
            self._upload_once(target, 4 * 1024 * 1024, chunk)
        except (TransferError, OSError) as exc:
            log.warning("warm-up of %s failed: %s", target.name, exc)

    # -- throughput scenarios -------------------------------------------------

    def _download_once(self, target: Target, size: int, chunk: int) -> Response:
        verifier = PatternVerifier()
        with Connection(target.base_url, timeout=self.timeout_s) as conn:
            resp = conn.request(
                "GET",
                f"{target.download_path}?size={size}&chunk={chunk}",
                on_body=verifier.update,
            )
        _check(resp.status == 200, f"download answered HTTP {resp.status}")
        _check(resp.complete, f"download truncated at {resp.body_bytes} of {size} bytes")
        _check(resp.body_bytes == size, f"download gave {resp.body_bytes} bytes, not {size}")
        return resp

    def _upload_once(self, target: Target, size: int, chunk: int) -> Response:
        with Connection(target.base_url, timeout=self.timeout_s) as conn:
            resp = conn.request(
                "POST",
                target.upload_path,
                body=pattern_chunks(size, chunk),
                content_length=size,
                keep_body=True,
                headers={"Content-Type": "application/octet-stream"},
            )
        _check(resp.status == 200, f"upload answered HTTP {resp.status}: {resp.body[:200]!r}")
        try:
            answer = json.loads(resp.body)
        except ValueError as exc:
            raise TransferError(f"upload answer is not JSON: {resp.body[:200]!r}") from exc
        _check(answer.get("bytes") == size, f"plugin counted {answer.get('bytes')} of {size}")
        _check(answer.get("sha256") == pattern_sha256(size), "upload sha256 differs")
        return resp

    def _repeat_best(
        self,
        scenario: Scenario,
        result: ScenarioResult,
        once: Callable[[], Response],
    ) -> None:
        runs = []
        for _ in range(int(scenario.options.get("repeats", 1))):
            resp = once()
            runs.append(resp.seconds)
            result.latencies_s.append(resp.ttfb_s)
        best = min(runs)
        result.seconds = sum(runs)
        result.bytes = scenario.size * len(runs)
        result.throughput_mb_s = scenario.size / best / MB
        result.extra["runs_seconds"] = runs

    def _run_download(self, scenario: Scenario, target: Target, result: ScenarioResult) -> None:
        self._repeat_best(
            scenario, result, lambda: self._download_once(target, scenario.size, scenario.chunk)
        )

    def _run_upload(self, scenario: Scenario, target: Target, result: ScenarioResult) -> None:
        self._repeat_best(
            scenario, result, lambda: self._upload_once(target, scenario.size, scenario.chunk)
        )

    def _run_echo(self, scenario: Scenario, target: Target, result: ScenarioResult) -> None:
        verifier = PatternVerifier()
        with Connection(target.base_url, timeout=self.timeout_s) as conn:
            resp = conn.request(
                "POST",
                "/echo",
                body=pattern_chunks(scenario.size, scenario.chunk),
                content_length=scenario.size,
                on_body=verifier.update,
            )
        _check(resp.status == 200, f"echo answered HTTP {resp.status}")
        _check(resp.complete and resp.body_bytes == scenario.size, "echo body incomplete")
        result.seconds = resp.seconds
        result.bytes = scenario.size
        result.throughput_mb_s = scenario.size / resp.seconds / MB
        result.latencies_s.append(resp.ttfb_s)

    def _run_concurrent(self, scenario: Scenario, target: Target, result: ScenarioResult) -> None:
        started = time.perf_counter()
        with ThreadPoolExecutor(scenario.concurrency) as pool:
            futures = [
                pool.submit(self._download_once, target, scenario.size, scenario.chunk)
                for _ in range(scenario.requests)
            ]
            responses = [f.result() for f in futures]
        result.seconds = time.perf_counter() - started
        result.bytes = scenario.size * len(responses)
        result.throughput_mb_s = result.bytes / result.seconds / MB
        result.latencies_s = [r.seconds for r in responses]

    # -- latency scenarios ----------------------------------------------------

    def _run_small(self, scenario: Scenario, target: Target, result: ScenarioResult) -> None:
        # The body in one write (see _run_rps).
        path = f"{target.download_path}?size={scenario.size}&chunk={scenario.size}"
        with Connection(target.base_url, timeout=10.0) as conn:
            for _ in range(scenario.requests):
                verifier = PatternVerifier()
                resp = conn.request("GET", path, on_body=verifier.update)
                _check(resp.status == 200 and resp.complete, f"small request: {resp.status}")
                result.latencies_s.append(resp.seconds)
        result.seconds = sum(result.latencies_s)
        result.bytes = scenario.size * scenario.requests
        result.extra["requests_per_s"] = scenario.requests / result.seconds

    def _run_rps(self, scenario: Scenario, target: Target, result: ScenarioResult) -> None:
        """Small GETs from many keep-alive connections at once: requests/s (bench/rps.py)."""
        from bench.load import rps

        # The body in one write: a chunk-sized buffer per request (the Go-direct
        # route allocates one) would be measured instead of the request path.
        load, figures = rps.measure(
            target.base_url,
            f"{target.download_path}?size={scenario.size}&chunk={scenario.size}",
            connections=scenario.concurrency,
            seconds=float(scenario.options.get("seconds", 1.0)),
            warmup_s=float(scenario.options.get("warmup_s", 0.3)),
            expect_bytes=scenario.size,
            processes=list(target.processes),
            read_processes=lambda: self.sampler.sample_now(stats=False),
        )
        result.extra.update(figures)
        _check(load.errors == 0, f"{load.errors} requests failed, first: {load.first_error}")
        _check(load.requests > 0, "no request completed")
        result.seconds = load.seconds
        result.bytes = scenario.size * load.requests
        result.latencies_s = load.latencies_s

    def _run_sse(self, scenario: Scenario, target: Target, result: ScenarioResult) -> None:
        events = int(scenario.options.get("events", 3))
        interval = int(scenario.options.get("interval_ms", 20))
        totals = []
        for _ in range(scenario.requests):
            first: list[float] = []
            seen = bytearray()
            started = time.perf_counter()

            def on_body(data: memoryview, first: list[float] = first, seen: bytearray = seen):
                seen.extend(data)
                if not first and b"data:" in seen:
                    first.append(time.perf_counter())

            with Connection(target.base_url, timeout=10.0) as conn:
                resp = conn.request(
                    "GET", f"/sse?events={events}&interval_ms={interval}", on_body=on_body
                )
            _check(resp.status == 200 and resp.complete, f"sse: HTTP {resp.status}")
            ctype = resp.header("Content-Type") or ""
            _check(ctype.startswith("text/event-stream"), f"sse content type {ctype!r}")
            count = seen.count(b"data:")
            _check(count == events, f"sse gave {count} events, not {events}")
            _check(bool(first), "sse: no event seen")
            result.latencies_s.append(first[0] - started)
            totals.append(resp.seconds)
        result.seconds = sum(totals)
        result.extra["time_to_first_event_ms_p50"] = (
            percentile(sorted(result.latencies_s), 50) * 1000
        )
        result.extra["stream_seconds_mean"] = statistics.fmean(totals)

    # -- behaviour scenarios --------------------------------------------------

    def _run_slow_reader(self, scenario: Scenario, target: Target, result: ScenarioResult) -> None:
        seconds = float(scenario.options.get("seconds", 3.0))
        rate = int(scenario.options.get("bytes_per_s", 4 * 1024 * 1024))
        budget = int(seconds * rate)
        before = self.sampler.sample_now()
        read = [0]
        started = time.perf_counter()

        def throttle(data: memoryview) -> None:
            read[0] += len(data)
            ahead = read[0] / rate - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)

        # A small receive buffer so the kernel cannot soak up the body for us.
        with Connection(target.base_url, timeout=30.0, rcvbuf=64 * 1024) as conn:
            resp = conn.request(
                "GET",
                f"/download?size={scenario.size}&chunk={scenario.chunk}",
                on_body=throttle,
                stop_after=budget,
            )
            # Measure while the stream is still open (held back, not finished).
            during = self.sampler.sample_now()
        _check(resp.status == 200, f"slow reader: HTTP {resp.status}")
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
        result.extra.update(
            client_read_bytes=resp.body_bytes,
            host_pulled_ahead_bytes=ahead_bytes,
            plugin_rss_growth_bytes=plugin_growth,
        )
        self._wait_idle()
        result.verdicts.append(
            verdicts.backpressure(
                plugin_growth, ahead_bytes, resp.body_bytes, scenario.size, self.tolerances
            )
        )

    def _wait_idle(self, timeout_s: float = 5.0) -> dict[str, float]:
        """Poll /debug/stats until no handler or stream is active (or timeout)."""
        deadline = time.monotonic() + timeout_s
        stats: dict[str, float] = {}
        while time.monotonic() < deadline:
            stats = self.sampler.latest_stats()
            if not stats:
                return stats
            if (
                stats.get("plugin.active_handlers", 0) == 0
                and stats.get("host.active_streams", 0) == 0
            ):
                return stats
            time.sleep(0.05)
        return stats

    def _run_abort(self, scenario: Scenario, target: Target, result: ScenarioResult) -> None:
        before = self._wait_idle()
        for _ in range(scenario.requests):
            with Connection(target.base_url, timeout=30.0) as conn:
                resp = conn.request(
                    "GET",
                    f"/download?size={scenario.size}&chunk={scenario.chunk}",
                    stop_after=1024 * 1024,
                )
            _check(resp.status == 200, f"abort: HTTP {resp.status}")
            _check(not resp.complete, "abort: body completed before the abort")
            result.latencies_s.append(resp.seconds)
        after = self._wait_idle()
        result.extra.update(stats_before=before, stats_after=after)
        result.verdicts.append(
            verdicts.abort_cleanup(
                scenario.requests,
                before.get("plugin.handlers_cancelled"),
                after.get("plugin.handlers_cancelled"),
                after.get("plugin.active_handlers"),
                after.get("host.active_streams"),
            )
        )

    def _run_soak(self, scenario: Scenario, target: Target, result: ScenarioResult) -> None:
        """Rounds of mixed requests; after each, quiescence, a forced GC, one reading.

        The CPython -R way (docs/bench.md, "Leak verdicts"): warm-up rounds fill
        caches and pools, then every measured round must leave the runtimes' own
        heaps (Go live heap and objects, Python allocated blocks and gc objects)
        and handles (goroutines, fds, tasks, threads) where it found them.
        """
        warmup_rounds = int(scenario.options.get("warmup_rounds", 2))
        rounds = int(scenario.options.get("rounds", 5))
        per_round = int(scenario.options.get("round_requests", 600))
        soak = Soak(target, scenario.chunk)
        before = self._wait_idle()
        result.extra["stats_before"] = before
        # Before the soak, then after each round; [0] only shows the first warm-up's growth.
        readings: list[dict[str, float]] = [self._settled_reading()]
        round_seconds: list[float] = []
        started = time.perf_counter()
        for index in range(warmup_rounds + rounds):
            round_started = time.perf_counter()
            self._soak_round(soak, scenario.concurrency, index * per_round, per_round)
            round_seconds.append(time.perf_counter() - round_started)
            if not self._wait_quiescent():
                soak.anomalies.append(
                    f"round {index + 1}: streams or handlers still active "
                    f"{QUIESCENCE_TIMEOUT_S:.0f} s after its last request"
                )
            readings.append(self._settled_reading())
        result.seconds = time.perf_counter() - started
        requests = (warmup_rounds + rounds) * per_round
        # Settled (quiescent, least of two readings) for returns-to-baseline too.
        after = readings[-1] or self.sampler.latest_stats()
        measured = readings[warmup_rounds:]  # from the end of the last warm-up round
        result.extra.update(
            stats_after=after,
            outcomes=dict(soak.outcomes),
            anomalies=soak.anomalies[:20],
            anomaly_count=len(soak.anomalies),
            requests_per_s=requests / sum(round_seconds),  # rounds only, not the readings
            leak_rounds={
                "warmup_rounds": warmup_rounds,
                "rounds": rounds,
                "round_requests": per_round,
                "round_seconds": round_seconds,
                "readings": readings,
            },
        )
        result.verdicts.append(
            verdicts.Verdict(
                name="soak-outcomes",
                passed=not soak.anomalies,
                summary=(
                    f"{requests} mixed requests, {len(soak.anomalies)} unexpected "
                    f"outcomes; {dict(soak.outcomes)}"
                ),
                figures={"anomalies": soak.anomalies[:20], "outcomes": dict(soak.outcomes)},
            )
        )
        if all(measured):
            result.verdicts.extend(
                verdicts.soak_leak_verdicts(measured, per_round, self.tolerances)
            )
        else:
            log.warning("soak: no /debug/stats readings after GC, no leak verdicts")
        result.verdicts.extend(verdicts.counters_return(before, after, self.tolerances))

    def _soak_round(self, soak: Soak, concurrency: int, first: int, count: int) -> None:
        """`count` requests of the soak's mix on `concurrency` keep-alive connections."""
        lock = threading.Lock()
        indices = iter(range(first, first + count))

        def worker() -> None:
            with Connection(soak.target.base_url, timeout=10.0) as conn:
                while True:
                    with lock:
                        index = next(indices, None)
                    if index is None:
                        return
                    soak.one(conn, index)

        with ThreadPoolExecutor(concurrency) as pool:
            for future in [pool.submit(worker) for _ in range(concurrency)]:
                future.result()

    def _settled_reading(self, takes: int = 2) -> dict[str, float]:
        """The least of `takes` readings after a forced GC, per counter.

        Between rounds nothing should be held, but a runtime may hold something
        transiently at the instant of a reading (gRPC-go lends its transport a
        256 KiB read buffer while a frame is read); that only ever adds. A leak
        is there in every reading, so the least one keeps it and drops the rest.
        """
        taken = [self.sampler.collected_stats() for _ in range(takes)]
        taken = [t for t in taken if t]
        if not taken:
            return {}
        keys = set.intersection(*(set(t) for t in taken))
        return {key: min(t[key] for t in taken) for key in sorted(keys)}

    def _wait_quiescent(self, timeout_s: float | None = None) -> bool:
        """True once no stream or handler is active (no stats URL: nothing to wait for)."""
        deadline = time.monotonic() + (timeout_s or QUIESCENCE_TIMEOUT_S)
        while True:
            stats = self.sampler.latest_stats()
            if not stats or (
                stats.get("plugin.active_handlers", 0) == 0
                and stats.get("host.active_streams", 0) == 0
            ):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


class Soak:
    """The leak soak's request mix: normal traffic, failures, aborts and timeouts."""

    MIX = (
        "download",
        "upload",
        "echo",
        "download",
        "fail-before",
        "fail-after",
        "early",
        "abort",
        "sse",
        "download",
        "headers",
        "timeout",
    )

    def __init__(self, target: Target, chunk: int) -> None:
        self.target = target
        self.chunk = chunk
        self.outcomes: dict[str, int] = {}
        self.anomalies: list[str] = []
        self._lock = threading.Lock()

    def _note(self, kind: str, problem: str | None) -> None:
        with self._lock:
            self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
            if problem:
                self.anomalies.append(f"{kind}: {problem}")

    def one(self, conn: Connection, index: int) -> None:
        kind = self.MIX[index % len(self.MIX)]
        try:
            problem = getattr(self, "_" + kind.replace("-", "_"))(conn)
        except (TransferError, OSError, ValueError) as exc:
            conn.close()
            problem = f"{type(exc).__name__}: {exc}"
        self._note(kind, problem)

    def _download(self, conn: Connection) -> str | None:
        verifier = PatternVerifier()
        resp = conn.request(
            "GET", f"/download?size=65536&chunk={self.chunk}", on_body=verifier.update
        )
        if resp.status != 200 or not resp.complete or resp.body_bytes != 65536:
            return f"HTTP {resp.status}, {resp.body_bytes} bytes, complete={resp.complete}"
        return None

    def _upload(self, conn: Connection) -> str | None:
        size = 128 * 1024
        resp = conn.request(
            "POST",
            "/upload",
            body=pattern_chunks(size, self.chunk),
            content_length=size,
            keep_body=True,
        )
        if resp.status != 200 or json.loads(resp.body).get("sha256") != pattern_sha256(size):
            return f"HTTP {resp.status} {resp.body[:100]!r}"
        return None

    def _echo(self, conn: Connection) -> str | None:
        verifier = PatternVerifier()
        size = 64 * 1024
        resp = conn.request(
            "POST",
            "/echo",
            body=pattern_chunks(size, 16384),
            content_length=size,
            on_body=verifier.update,
        )
        if resp.status != 200 or resp.body_bytes != size or not resp.complete:
            return f"HTTP {resp.status}, {resp.body_bytes} bytes"
        return None

    def _fail_before(self, conn: Connection) -> str | None:
        resp = conn.request("GET", "/fail?after=0")
        return None if resp.status == 500 else f"HTTP {resp.status}, expected 500"

    def _fail_after(self, conn: Connection) -> str | None:
        resp = conn.request("GET", "/fail?after=16384")
        conn.close()
        # The plugin failed mid-body: the client must see a truncated body, never a whole one.
        return "failed body looked complete" if resp.complete else None

    def _early(self, conn: Connection) -> str | None:
        size = 256 * 1024
        resp = conn.request(
            "POST",
            "/early?status=202",
            body=pattern_chunks(size, self.chunk),
            content_length=size,
            early_answer_ok=True,
        )
        conn.close()  # the server may close after not reading our body; start fresh
        return None if resp.status == 202 else f"HTTP {resp.status}, expected 202"

    def _abort(self, conn: Connection) -> str | None:
        resp = conn.request(
            "GET", f"/download?size={64 * 1024 * 1024}&chunk={self.chunk}", stop_after=256 * 1024
        )
        return None if resp.status == 200 and not resp.complete else f"HTTP {resp.status}"

    def _sse(self, conn: Connection) -> str | None:
        resp = conn.request("GET", "/sse?events=2&interval_ms=1", keep_body=True)
        count = resp.body.count(b"data:")
        return None if resp.status == 200 and count == 2 else f"HTTP {resp.status}, {count} ev"

    def _headers(self, conn: Connection) -> str | None:
        resp = conn.request("GET", "/headers")
        cookies = [v for k, v in resp.headers if k.lower() == "set-cookie"]
        return None if resp.status == 200 and len(cookies) >= 2 else f"cookies {cookies}"

    def _timeout(self, conn: Connection) -> str | None:
        conn.close()
        conn.timeout, saved = 0.1, conn.timeout
        try:
            conn.request("GET", "/hang")
        except TimeoutError:
            return None  # the client gave up, as intended: the host must cancel the handler
        finally:
            conn.close()
            conn.timeout = saved
        return "/hang answered"
