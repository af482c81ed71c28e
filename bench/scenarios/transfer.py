"""Throughput scenarios: large downloads, uploads, full-duplex echo, parallel downloads.

Every byte is checked: downloads against the demo pattern as they arrive,
uploads by the sha256 the server reports, echo against the pattern it sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.load.client import Connection, Response, TransferError
from bench.runner.targets import BRIDGE, BUFFERED, GO_DIRECT, PYTHON_DIRECT, Target
from bench.scenarios.base import MB, RunContext, Scenario, ScenarioResult, check
from bench.scenarios.profiles import Profile
from plugin_runtime.examples.pattern import PatternVerifier, pattern_chunks, pattern_sha256


def download_once(target: Target, size: int, chunk: int, timeout_s: float) -> Response:
    """GET size bytes written chunk at a time; the pattern checked as it arrives."""
    verifier = PatternVerifier()
    with Connection(target.base_url, timeout=timeout_s) as conn:
        resp = conn.request(
            "GET",
            f"{target.download_path}?size={size}&chunk={chunk}",
            on_body=verifier.update,
        )
    check(resp.status == 200, f"download answered HTTP {resp.status}")
    check(resp.complete, f"download truncated at {resp.body_bytes} of {size} bytes")
    check(resp.body_bytes == size, f"download gave {resp.body_bytes} bytes, not {size}")
    return resp


def upload_once(target: Target, size: int, chunk: int, timeout_s: float) -> Response:
    """POST size bytes from a generator (never held whole); the server's sha256 checked."""
    with Connection(target.base_url, timeout=timeout_s) as conn:
        resp = conn.request(
            "POST",
            target.upload_path,
            body=pattern_chunks(size, chunk),
            content_length=size,
            keep_body=True,
            headers={"Content-Type": "application/octet-stream"},
        )
    check(resp.status == 200, f"upload answered HTTP {resp.status}: {resp.body[:200]!r}")
    try:
        answer = json.loads(resp.body)
    except ValueError as exc:
        raise TransferError(f"upload answer is not JSON: {resp.body[:200]!r}") from exc
    check(answer.get("bytes") == size, f"plugin counted {answer.get('bytes')} of {size}")
    check(answer.get("sha256") == pattern_sha256(size), "upload sha256 differs")
    return resp


@dataclass(frozen=True)
class Transfer(Scenario):
    """One large body each way, `repeats` times: the best run counts, all are recorded."""

    repeats: int = 1

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterator[Scenario]:
        for size in profile.sizes:
            yield cls(BRIDGE, chunk, size=size, repeats=profile.repeats)
        for size in profile.reference_sizes:
            for target in (GO_DIRECT, PYTHON_DIRECT):
                yield cls(target, chunk, size=size, repeats=profile.repeats)
            if size <= profile.buffered_max_size:
                yield cls(BUFFERED, chunk, size=size)

    def once(self, ctx: RunContext, target: Target) -> Response:
        raise NotImplementedError

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        self._repeat_best(result, lambda: self.once(ctx, target))

    def _repeat_best(self, result: ScenarioResult, once: Callable[[], Response]) -> None:
        runs = []
        for _ in range(self.repeats):
            resp = once()
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

    def once(self, ctx: RunContext, target: Target) -> Response:
        return download_once(target, self.size, self.chunk, ctx.timeout_s)


@dataclass(frozen=True)
class Upload(Transfer):
    """POST /upload streamed from a generator: the plugin's byte count and sha256."""

    kind = "upload"
    direction = "up"

    def once(self, ctx: RunContext, target: Target) -> Response:
        return upload_once(target, self.size, self.chunk, ctx.timeout_s)


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
        with Connection(target.base_url, timeout=ctx.timeout_s) as conn:
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
    """`requests` downloads on `concurrency` connections at once: aggregate MB/s."""

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
        started = time.perf_counter()
        with ThreadPoolExecutor(self.concurrency) as pool:
            futures = [
                pool.submit(download_once, target, self.size, self.chunk, ctx.timeout_s)
                for _ in range(self.requests)
            ]
            responses = [f.result() for f in futures]
        result.seconds = time.perf_counter() - started
        result.bytes = self.size * len(responses)
        result.throughput_mb_s = result.bytes / result.seconds / MB
        result.latencies_s = [r.seconds for r in responses]
