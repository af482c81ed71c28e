"""Throughput per chunk size (download/upload through the bridge, Go-direct for reference)
and small-request latency, with peak RSS growth and bytes in extra_info.

Pedantic mode, few rounds: one warm-up round, then BENCH_PYTEST_ROUNDS timed ones.
Each round is one whole transfer on a keep-alive connection, body checked byte for
byte (download) or by sha256 (upload). Speed is reported, never asserted; a wrong
or truncated body fails the benchmark.
"""

from __future__ import annotations

import json
import os

import pytest

from bench.load.client import Connection, TransferError
from plugin_runtime.examples.pattern import PatternVerifier, pattern_chunks, pattern_sha256

MiB = 1024 * 1024
SIZE = int(os.environ.get("BENCH_PYTEST_SIZE", str(64 * MiB)))
CHUNKS = [
    int(c) for c in os.environ.get("BENCH_PYTEST_CHUNKS", "16384,65536,262144,1048576").split(",")
]
ROUNDS = int(os.environ.get("BENCH_PYTEST_ROUNDS", "3"))
LATENCY_ROUNDS = int(os.environ.get("BENCH_PYTEST_LATENCY_ROUNDS", "300"))
REFERENCE_CHUNK = 65536 if 65536 in CHUNKS else CHUNKS[0]


def download(conn: Connection, size: int, chunk: int) -> int:
    verifier = PatternVerifier()
    resp = conn.request("GET", f"/download?size={size}&chunk={chunk}", on_body=verifier.update)
    if resp.status != 200 or not resp.complete or resp.body_bytes != size:
        raise TransferError(
            f"download: HTTP {resp.status}, {resp.body_bytes}/{size} bytes, "
            f"complete={resp.complete}"
        )
    return resp.body_bytes


def upload(conn: Connection, size: int, chunk: int, expected_sha256: str) -> int:
    resp = conn.request("POST", "/upload", body=pattern_chunks(size, chunk), keep_body=True)
    if resp.status != 200:
        raise TransferError(f"upload: HTTP {resp.status}: {resp.body[:200]!r}")
    answer = json.loads(resp.body)
    if answer != {"bytes": size, "sha256": expected_sha256}:
        raise TransferError(f"upload: plugin saw {answer}, sent {size} bytes")
    return size


def _record_throughput(benchmark, size: int, chunk: int, direction: str, target: str) -> None:
    info = benchmark.extra_info
    info.update({"bytes": size, "chunk_bytes": chunk, "direction": direction, "target": target})
    stats = getattr(benchmark, "stats", None)
    if stats:  # absent with --benchmark-disable
        info["mb_per_s_mean"] = round(size / stats.stats.mean / 1e6, 1)
        info["mb_per_s_max"] = round(size / stats.stats.min / 1e6, 1)


def _run_transfer(benchmark, measure_rss, conn: Connection, fn, *args) -> None:
    with measure_rss(benchmark.extra_info):
        benchmark.pedantic(fn, args=(conn, *args), rounds=ROUNDS, warmup_rounds=1, iterations=1)


@pytest.mark.parametrize("chunk", CHUNKS, ids=lambda c: f"chunk{c // 1024}k")
def test_download_through_bridge(benchmark, bench_target, measure_rss, chunk: int) -> None:
    benchmark.group = f"download {SIZE // MiB} MiB"
    with Connection(bench_target.plugin_url) as conn:
        _run_transfer(benchmark, measure_rss, conn, download, SIZE, chunk)
    _record_throughput(benchmark, SIZE, chunk, "download", "bridge")


@pytest.mark.parametrize("chunk", CHUNKS, ids=lambda c: f"chunk{c // 1024}k")
def test_upload_through_bridge(benchmark, bench_target, measure_rss, chunk: int) -> None:
    benchmark.group = f"upload {SIZE // MiB} MiB"
    expected = pattern_sha256(SIZE)  # outside the timed region
    with Connection(bench_target.plugin_url) as conn:
        _run_transfer(benchmark, measure_rss, conn, upload, SIZE, chunk, expected)
    _record_throughput(benchmark, SIZE, chunk, "upload", "bridge")


def test_download_go_direct(benchmark, bench_target, measure_rss) -> None:
    """The host serving the same bytes itself: the ceiling the bridge is compared to."""
    benchmark.group = f"download {SIZE // MiB} MiB"
    with Connection(f"{bench_target.host_url}/direct") as conn:
        _run_transfer(benchmark, measure_rss, conn, download, SIZE, REFERENCE_CHUNK)
    _record_throughput(benchmark, SIZE, REFERENCE_CHUNK, "download", "go-direct")


def test_upload_go_direct(benchmark, bench_target, measure_rss) -> None:
    benchmark.group = f"upload {SIZE // MiB} MiB"
    expected = pattern_sha256(SIZE)
    with Connection(f"{bench_target.host_url}/direct") as conn:
        _run_transfer(benchmark, measure_rss, conn, upload, SIZE, REFERENCE_CHUNK, expected)
    _record_throughput(benchmark, SIZE, REFERENCE_CHUNK, "upload", "go-direct")


def test_small_request_latency(benchmark, bench_target, measure_rss) -> None:
    """GET /status?code=200 on a keep-alive connection: the bridge's per-request cost."""
    benchmark.group = "small request"

    def small(conn: Connection) -> int:
        resp = conn.request("GET", "/status?code=200", keep_body=True)
        if resp.status != 200 or not resp.complete:
            raise TransferError(f"small request: HTTP {resp.status}")
        return len(resp.body)

    with Connection(bench_target.plugin_url) as conn, measure_rss(benchmark.extra_info):
        benchmark.pedantic(
            small, args=(conn,), rounds=LATENCY_ROUNDS, warmup_rounds=10, iterations=1
        )
    benchmark.extra_info.update({"requests": LATENCY_ROUNDS, "route": "/status?code=200"})
    stats = getattr(benchmark, "stats", None)
    if stats:
        benchmark.extra_info["requests_per_s"] = round(1.0 / stats.stats.mean, 1)
