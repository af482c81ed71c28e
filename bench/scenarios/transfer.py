"""Throughput scenarios: large downloads, uploads, full-duplex echo, parallel downloads.

Every byte is checked (bench/load/transfers.py): downloads against the demo
pattern as they arrive, uploads by the sha256 the server reports, echo against
the pattern it sent. Downloads and uploads run against the bridge and against
each peer that serves them, at the profile's sizes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from bench.core.profiles import Profile
from bench.core.targets import (
    BRIDGE,
    BUFFERED,
    GO_DIRECT,
    GO_PLUGIN,
    GRPC_FLOOR,
    PYTHON_DIRECT,
    Target,
)
from bench.core.units import MB
from bench.load import transfers
from bench.load.client import Connection, Response
from bench.load.streams import StreamPlan, run_streams
from bench.results.capacity import DOWNLOAD
from bench.scenarios.base import RunContext, Scenario, ScenarioResult, check
from plugin_runtime.examples.pattern import PatternVerifier, pattern_chunks


def download_once(target: Target, size: int, chunk: int, timeout_s: float) -> Response:
    """One checked download on its own connection."""
    with Connection(target.base_url, timeout=timeout_s) as conn:
        return transfers.download(conn, target, size, chunk)


def upload_once(
    target: Target, size: int, chunk: int, timeout_s: float, *, hashed: bool = True
) -> Response:
    """One checked upload on its own connection."""
    with Connection(target.base_url, timeout=timeout_s) as conn:
        return transfers.upload(conn, target, size, chunk, hashed=hashed)


@dataclass(frozen=True)
class Transfer(Scenario):
    """One large body, `repeats` times: the best run counts, all are recorded."""

    # The peers that run this kind beside the bridge, at the profile's reference sizes.
    references: ClassVar[tuple[str, ...]] = ()
    repeats: int = 1

    @classmethod
    def sizes(cls, profile: Profile) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(the bridge's sizes, the references' sizes)."""
        return profile.sizes, profile.reference_sizes

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterator[Scenario]:
        bridge_sizes, reference_sizes = cls.sizes(profile)
        for size in bridge_sizes:
            yield cls(BRIDGE, chunk, size=size, repeats=profile.repeats)
        for size in reference_sizes:
            for target in cls.references:
                if target == BUFFERED:
                    if size <= profile.buffered_max_size:  # it holds whole bodies
                        yield cls(BUFFERED, chunk, size=size)
                else:
                    yield cls(target, chunk, size=size, repeats=profile.repeats)

    def once(self, ctx: RunContext, target: Target) -> Response:
        raise NotImplementedError

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        runs = []
        for _ in range(self.repeats):
            with ctx.measuring_cpu(target, result):
                resp = self.once(ctx, target)
            runs.append(resp.seconds)
            result.latencies_s.append(resp.ttfb_s)
        result.seconds = sum(runs)
        result.bytes = self.size * len(runs)
        result.throughput_mb_s = self.size / min(runs) / MB
        result.extra["runs_seconds"] = runs


@dataclass(frozen=True)
class Download(Transfer):
    """GET /download?size=N&chunk=C: every byte is i % 256, length and framing complete."""

    kind = "download"
    direction = "down"
    references = (GO_DIRECT, PYTHON_DIRECT, GO_PLUGIN, GRPC_FLOOR, BUFFERED)

    def once(self, ctx: RunContext, target: Target) -> Response:
        return download_once(target, self.size, self.chunk, ctx.timeout_s)


@dataclass(frozen=True)
class Upload(Transfer):
    """POST /upload streamed from a generator: the plugin's byte count and sha256."""

    kind = "upload"
    direction = "up"
    references = (GO_DIRECT, PYTHON_DIRECT, GO_PLUGIN, BUFFERED)
    hashed: bool = True  # False: `?hash=none`, the transport without the handler's hashing

    def once(self, ctx: RunContext, target: Target) -> Response:
        return upload_once(target, self.size, self.chunk, ctx.timeout_s, hashed=self.hashed)


@dataclass(frozen=True)
class Echo(Scenario):
    """POST /echo, sending and reading at once (full duplex): the echoed bytes."""

    kind = "echo"
    direction = "both"

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterator[Scenario]:
        yield cls(BRIDGE, chunk, size=profile.echo_size)

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        verifier = PatternVerifier()
        with ctx.measuring_cpu(target, result), Connection(target.base_url, ctx.timeout_s) as conn:
            resp = conn.request(
                "POST",
                "/echo",
                body=pattern_chunks(self.size, self.chunk),
                content_length=self.size,
                on_body=verifier.update,
            )
        check(resp.status == 200, f"echo answered HTTP {resp.status}")
        check(resp.complete and resp.body_bytes == self.size, "echo body incomplete")
        result.seconds = resp.seconds
        result.bytes = self.size
        result.throughput_mb_s = self.size / resp.seconds / MB
        result.latencies_s.append(resp.ttfb_s)


@dataclass(frozen=True)
class Concurrent(Scenario):
    """`concurrency` downloads at once (bench/load/streams.py): aggregate MB/s."""

    kind = "concurrent"
    direction = "down"

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterator[Scenario]:
        yield cls(
            BRIDGE,
            chunk,
            size=profile.concurrent_size,
            concurrency=profile.concurrency,
            requests=profile.concurrency,
        )

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        plan = StreamPlan(target, self.size, self.chunk, ctx.timeout_s)
        with ctx.measuring_cpu(target, result):
            seconds, outcomes = run_streams(plan, [DOWNLOAD] * self.requests)
        failed = [o for o in outcomes if not o.ok]
        check(
            not failed,
            f"{len(failed)} of {len(outcomes)} downloads failed: "
            + "; ".join(o.detail for o in failed[:3]),
        )
        result.seconds = seconds
        result.bytes = self.size * len(outcomes)
        result.throughput_mb_s = result.bytes / seconds / MB
        result.latencies_s = [o.seconds for o in outcomes]
