"""`python -m bench run --profile smoke` against real spawned host + plugin processes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.core.paths import GOPLUGINHOST_BIN, HOSTSTUB_BIN, REPO_ROOT
from bench.core.profiles import PROFILES
from bench.core.units import human_size
from bench.tests.conftest import plugin_serves_files

pytestmark = pytest.mark.e2e

# Every scenario kind of the bench: each one's verdicts must hold on a clean run.
SMOKE_KINDS = (
    "download",
    "upload",
    "echo",
    "concurrent",
    "small",
    "rps",
    "sse",
    "slow-reader",
    "abort",
    "soak",
)


# Kinds that need the plugin to serve files from a files root (--files-root).
FILE_KINDS = ("file", "file-offload")
TRANSFER_KINDS = ("download", "upload", "echo", "concurrent", *FILE_KINDS)


def _missing() -> str | None:
    if not HOSTSTUB_BIN.exists():
        return f"{HOSTSTUB_BIN} not built (scripts/setup.sh)"
    if importlib.util.find_spec("plugin_runtime.examples.bench") is None:
        return "plugin_runtime.examples.bench not importable"
    return None


def test_smoke_run_writes_results_from_real_samples(tmp_path: Path) -> None:
    if reason := _missing():
        pytest.skip(reason)
    kinds = (*SMOKE_KINDS, *FILE_KINDS) if plugin_serves_files() else SMOKE_KINDS
    proc = subprocess.run(
        [
            sys.executable,
            *("-m", "bench", "run", "--profile", "smoke", "--scenarios", ",".join(kinds)),
            *("--no-locust", "--no-pytest-benchmark", "--results-dir", str(tmp_path)),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,  # a busy machine; pytest's own limit is 300 s
    )
    # Exit 0 only when every verdict passed (1 when one failed): both must hold.
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run_dir,) = list(tmp_path.iterdir())
    for name in ("summary.json", "summary.md", "rss_over_time.png", "timeline.json"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    scenarios = {s["id"]: s for s in summary["scenarios"]}
    failed = {sid: s["error"] for sid, s in scenarios.items() if not s["ok"]}
    assert not failed, failed
    assert {s["kind"] for s in scenarios.values()} == set(kinds)
    expected_targets = {"bridge", "go-direct", "python-direct", "buffered", "grpc-floor"}
    if GOPLUGINHOST_BIN.exists():
        expected_targets.add("go-plugin")
    assert {s["target"] for s in scenarios.values()} == expected_targets
    # Every transfer, whatever its size, has the CPU per GiB of each of its processes
    # (the ones whose memory was sampled) and of the bench's client.
    for sid, s in scenarios.items():
        if s["kind"] in TRANSFER_KINDS:
            cpu = s["cpu_seconds_per_gib"]
            assert set(cpu) == set(s["rss_growth_bytes"]) and "loadgen" in cpu, (sid, cpu)
            assert all(v > 0 for v in cpu.values()), (sid, cpu)
    # Every streamed download the gRPC floor pulled too says how far the bridge is from it.
    pulled = {
        (s["kind"], s["size_bytes"]) for s in scenarios.values() if s["target"] == "grpc-floor"
    }
    assert ("download", 8 * 2**20) in pulled
    floors = {(f["kind"], f["size_bytes"]): f for f in summary["floors"]}
    assert set(floors) == pulled, summary["floors"]
    for floor in floors.values():
        for side in ("host", "plugin", "total"):
            assert floor[side]["bridge"] > 0 and floor[side]["floor"] > 0, floor
            assert floor[side]["ratio_to_floor"] > 0, floor
        assert floor["total"]["ratio_to_two_hops"] > 0, floor
    markdown = (run_dir / "summary.md").read_text()
    assert "## Distance to the floor" in markdown
    # The first section says where the bridge stands against each peer.
    assert markdown.split("\n## ", 1)[1].startswith("Where the bridge stands")
    # Verdicts come from real samples of the spawned processes, and all passed.
    (chunk,) = PROFILES["smoke"].chunk_sizes
    big = scenarios[f"download/bridge/8MiB/c{human_size(chunk)}"]
    assert big["samples"]["host"] > 0 and big["samples"]["plugin"] > 0
    assert big["memory_source"]["plugin"] == "psutil"
    verdicts = {v["name"]: v for v in summary["verdicts"]}
    expected = {
        f"bounded-memory/download/host/c{chunk}",
        f"bounded-memory/download/plugin/c{chunk}",
        f"bounded-memory/upload/host/c{chunk}",
        f"bounded-memory/upload/plugin/c{chunk}",
        f"backpressure/slow-reader/c{chunk}",
        f"abort-cleanup/c{chunk}",
        f"leak/plugin.allocated_blocks/c{chunk}",
        f"leak/host.heap_live_bytes/c{chunk}",
        f"leak-rss/host/c{chunk}",
    }
    assert expected <= set(verdicts), sorted(verdicts)
    # The leak verdicts judged the smoke profile's measured rounds, not a slope.
    assert len(verdicts[f"leak/host.heap_live_bytes/c{chunk}"]["figures"]["deltas"]) == 3
    failed_verdicts = {name: v["summary"] for name, v in verdicts.items() if not v["passed"]}
    assert not failed_verdicts, failed_verdicts
    # Small-request throughput from real connections, for the bridge and each reference.
    rps = scenarios[f"rps/bridge/1KiB/x{PROFILES['smoke'].rps_connections}/c{human_size(chunk)}"]
    assert rps["extra"]["requests_per_s"] > 0 and rps["extra"]["errors"] == 0
    assert rps["latency_ms"]["p99"] >= rps["latency_ms"]["p50"] > 0
    assert set(rps["extra"]["cpu_us_per_request"]) == {"host", "plugin"}
    assert any(r["kind"] == "rps" for r in summary["references"])
    assert summary["sampler"]["samples"] > 0


def test_a_plugin_that_does_not_start_is_a_clear_error(tmp_path: Path) -> None:
    """Exit 2 with what did not start and its log, never a traceback."""
    if reason := _missing():
        pytest.skip(reason)
    proc = subprocess.run(
        [
            sys.executable,
            *("-m", "bench", "run", "--profile", "smoke", "--scenarios", "download"),
            *("--no-references", "--no-locust", "--no-pytest-benchmark"),
            *("--results-dir", str(tmp_path)),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "BENCH_PLUGIN_APP": "no_such_module_anywhere:app"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.startswith("bench run: the services did not start:"), proc.stderr[:500]
    assert "no_such_module_anywhere" in proc.stderr and "Traceback" not in proc.stderr[:200]
