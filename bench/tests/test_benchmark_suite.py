"""The pytest-benchmark suite (bench/benchmarks) run in a minimal mode, its JSON checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.core.paths import REPO_ROOT

MiB = 1024 * 1024
SIZE = 2 * MiB
RSS_GROWTH_LIMIT = 64 * MiB


def _pytest(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=240,  # a busy machine; pytest's own limit is 300 s
        cwd=REPO_ROOT,
    )


@pytest.mark.e2e
def test_benchmark_suite_writes_json_with_extra_info(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = _pytest(
        ["bench/benchmarks", "--benchmark-only", f"--benchmark-json={out}", "-q"],
        {
            "BENCH_PYTEST_SIZE": str(SIZE),
            "BENCH_PYTEST_CHUNKS": "65536",
            "BENCH_PYTEST_ROUNDS": "1",
            "BENCH_PYTEST_LATENCY_ROUNDS": "20",
        },
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = json.loads(out.read_text())
    by_name = {b["name"]: b for b in report["benchmarks"]}
    assert set(by_name) == {
        "test_download_through_bridge[chunk64k]",
        "test_upload_through_bridge[chunk64k]",
        "test_download_go_direct",
        "test_upload_go_direct",
        "test_small_request_latency",
    }
    for name, bench in by_name.items():
        info = bench["extra_info"]
        assert bench["stats"]["rounds"] >= 1, name
        for side in ("host", "plugin"):
            growth = info[f"{side}_peak_rss_growth_bytes"]
            peak = info[f"{side}_peak_rss_bytes"]
            # Growth is measured from the window's first reading, a live process's RSS
            # (not from zero: then it would equal the peak) ...
            assert peak - growth > MiB, (name, side, info)
            # ... and stays far below what buffering the bodies would take (a memory
            # bound with a wide margin; the transfers here are 2 MiB).
            assert 0 <= growth < RSS_GROWTH_LIMIT, (name, side, info)
    transfer = by_name["test_download_through_bridge[chunk64k]"]["extra_info"]
    assert transfer["bytes"] == SIZE
    assert transfer["chunk_bytes"] == 65536
    assert transfer["mb_per_s_mean"] > 0
    assert by_name["test_small_request_latency"]["extra_info"]["requests_per_s"] > 0


def test_benchmarks_are_skipped_without_benchmark_only() -> None:
    """Without --benchmark-only (the project's options say --benchmark-skip) the suite
    skips instead of running a minute, named or collected through a parent directory."""
    for where in ("bench", "bench/benchmarks"):
        run = _pytest([where, "-q", "-k", "test_download_through_bridge", "-rs"], {})
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert "--benchmark-skip" in run.stdout, run.stdout[-2000:]
        assert " skipped" in run.stdout and " passed" not in run.stdout, run.stdout[-2000:]
