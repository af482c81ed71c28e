"""The leak soak: rounds of mixed requests; after each, quiescence, a forced GC, one reading.

The CPython -R way (docs/bench.md, "Leak verdicts"): warm-up rounds fill
caches and pools, then every measured round must leave the runtimes' own heaps
(Go live heap and objects, Python allocated blocks and gc objects) and handles
(goroutines, fds, tasks, threads) where it found them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench.core.profiles import Profile
from bench.core.targets import BRIDGE, Target
from bench.load import transfers
from bench.load.client import Connection, TransferError
from bench.observe.samplers import Sampler
from bench.scenarios.base import RunContext, Scenario, ScenarioResult, wait_idle
from plugin_runtime.examples.pattern import PatternVerifier, pattern_chunks

log = logging.getLogger(__name__)

# A handler the client gave up on is cancelled within milliseconds; this bounds a busy machine.
QUIESCENCE_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 5.0  # before the soak
SOAK_CONNECTIONS = 4


@dataclass
class SoakReading:
    """What the soak read: the counters after a forced GC before the soak and after
    each round (warm-up rounds first), and every request's outcome."""

    warmup_rounds: int
    rounds: int
    round_requests: int
    readings: list[dict[str, float]]  # [0] before the soak, then one per round
    round_seconds: list[float]
    stats_before: dict[str, float]
    stats_after: dict[str, float]
    outcomes: dict[str, int] = field(default_factory=dict)  # kind -> requests
    anomalies: list[str] = field(default_factory=list)  # unexpected outcomes

    @property
    def measured(self) -> list[dict[str, float]]:
        """From the end of the last warm-up round on: what the leak verdicts judge."""
        return self.readings[self.warmup_rounds :]

    @property
    def requests(self) -> int:
        return (self.warmup_rounds + self.rounds) * self.round_requests

    def to_extra(self) -> dict[str, object]:
        return {
            "stats_before": self.stats_before,
            "stats_after": self.stats_after,
            "outcomes": dict(self.outcomes),
            "anomalies": self.anomalies[:20],
            "anomaly_count": len(self.anomalies),
            "requests_per_s": self.requests / sum(self.round_seconds) if self.round_seconds else 0,
            "leak_rounds": {
                "warmup_rounds": self.warmup_rounds,
                "rounds": self.rounds,
                "round_requests": self.round_requests,
                "round_seconds": self.round_seconds,
                "readings": self.readings,
            },
        }


def settled_reading(sampler: Sampler, takes: int = 2) -> dict[str, float]:
    """The least of `takes` readings after a forced GC, per counter.

    Between rounds nothing should be held, but a runtime may hold something
    transiently at the instant of a reading (gRPC-go lends its transport a
    256 KiB read buffer while a frame is read); that only ever adds. A leak
    is there in every reading, so the least one keeps it and drops the rest.
    """
    taken = [sampler.collected_stats() for _ in range(takes)]
    taken = [t for t in taken if t]
    if not taken:
        return {}
    keys = set.intersection(*(set(t) for t in taken))
    return {key: min(t[key] for t in taken) for key in sorted(keys)}


@dataclass(frozen=True)
class Soak(Scenario):
    """`warmup_rounds` + `rounds` rounds of `round_requests` mixed requests each."""

    kind = "soak"
    round_requests: int = 600
    warmup_rounds: int = 2
    rounds: int = 5

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterator[Scenario]:
        rounds = profile.soak_warmup_rounds + profile.soak_rounds
        yield cls(
            BRIDGE,
            chunk,
            requests=profile.soak_round_requests * rounds,
            concurrency=SOAK_CONNECTIONS,
            round_requests=profile.soak_round_requests,
            warmup_rounds=profile.soak_warmup_rounds,
            rounds=profile.soak_rounds,
        )

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        per_round = self.round_requests
        mix = SoakMix(target, self.chunk)
        _, before = wait_idle(ctx.sampler, SETTLE_TIMEOUT_S)
        # Before the soak, then after each round; [0] only shows the first warm-up's growth.
        readings: list[dict[str, float]] = [settled_reading(ctx.sampler)]
        round_seconds: list[float] = []
        started = time.perf_counter()
        for index in range(self.warmup_rounds + self.rounds):
            round_started = time.perf_counter()
            mix.round(self.concurrency, index * per_round, per_round)
            round_seconds.append(time.perf_counter() - round_started)
            idle, _ = wait_idle(ctx.sampler, QUIESCENCE_TIMEOUT_S)
            if not idle:
                mix.anomalies.append(
                    f"round {index + 1}: streams or handlers still active "
                    f"{QUIESCENCE_TIMEOUT_S:.0f} s after its last request"
                )
            readings.append(settled_reading(ctx.sampler))
        result.seconds = time.perf_counter() - started
        # Settled (quiescent, least of two readings) for returns-to-baseline too.
        after = readings[-1] or ctx.sampler.latest_stats()
        if not all(readings[self.warmup_rounds :]):
            log.warning("soak: no /debug/stats readings after GC, no leak verdicts")
        result.reading = SoakReading(
            warmup_rounds=self.warmup_rounds,
            rounds=self.rounds,
            round_requests=per_round,
            readings=readings,
            round_seconds=round_seconds,
            stats_before=before,
            stats_after=after,
            outcomes=dict(mix.outcomes),
            anomalies=mix.anomalies,
        )
        result.extra.update(result.reading.to_extra())


Request = Callable[[Connection], str | None]  # None when the answer was the expected one


class SoakMix:
    """The soak's request mix: normal traffic, failures, aborts and timeouts."""

    def __init__(self, target: Target, chunk: int) -> None:
        self.target = target
        self.chunk = chunk
        self.outcomes: dict[str, int] = {}
        self.anomalies: list[str] = []
        self._lock = threading.Lock()
        self.mix: tuple[tuple[str, Request], ...] = (
            ("download", self._download),
            ("upload", self._upload),
            ("echo", self._echo),
            ("download", self._download),
            ("fail-before", self._fail_before),
            ("fail-after", self._fail_after),
            ("early", self._early),
            ("abort", self._abort),
            ("sse", self._sse),
            ("download", self._download),
            ("headers", self._headers),
            ("timeout", self._timeout),
        )

    def round(self, concurrency: int, first: int, count: int) -> None:
        """`count` requests of the mix on `concurrency` keep-alive connections."""
        lock = threading.Lock()
        indices = iter(range(first, first + count))

        def worker() -> None:
            with Connection(self.target.base_url, timeout=10.0) as conn:
                while True:
                    with lock:
                        index = next(indices, None)
                    if index is None:
                        return
                    self.one(conn, index)

        with ThreadPoolExecutor(concurrency) as pool:
            for future in [pool.submit(worker) for _ in range(concurrency)]:
                future.result()

    def one(self, conn: Connection, index: int) -> None:
        kind, request = self.mix[index % len(self.mix)]
        try:
            problem = request(conn)
        except (TransferError, OSError, ValueError) as exc:
            conn.close()
            problem = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
            if problem:
                self.anomalies.append(f"{kind}: {problem}")

    def _download(self, conn: Connection) -> str | None:
        transfers.download(conn, self.target, 65536, self.chunk)  # raises when wrong
        return None

    def _upload(self, conn: Connection) -> str | None:
        transfers.upload(conn, self.target, 128 * 1024, self.chunk)  # raises when wrong
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
