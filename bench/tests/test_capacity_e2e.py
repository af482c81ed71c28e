"""`python -m bench capacity` for real: a tiny ramp (1, 2, 4 streams of 1 MiB) through
spawned host + plugin processes, measured by psutil, written to a run folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.core.paths import HOSTSTUB_BIN, REPO_ROOT
from bench.tests.conftest import plugin_serves_files

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

MiB = 1024 * 1024


def run_capacity(results: Path, *flags: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    if not HOSTSTUB_BIN.exists():
        pytest.skip(f"{HOSTSTUB_BIN} not built (scripts/setup.sh)")
    proc = subprocess.run(
        [
            sys.executable,
            *("-m", "bench", "capacity", "--profile", "smoke", "--targets", "bridge"),
            *("--results-dir", str(results), *flags),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    (run_dir,) = list(results.iterdir())
    return proc, json.loads((run_dir / "summary.json").read_text())


def test_tiny_ramp_through_the_real_bridge_holds_every_level(tmp_path: Path) -> None:
    # At least 4 MiB per level: 4, 2 and 1 transfers per stream on keep-alive connections.
    proc, summary = run_capacity(tmp_path, "--min-level-bytes", "4m")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert summary["kind"] == "capacity" and summary["levels"] == [1, 2, 4]
    ramps = {r["key"]: r for r in summary["ramps"]}
    assert set(ramps) == {"bridge/download", "bridge/upload", "bridge/mixed"}
    for key, ramp in ramps.items():
        assert ramp["capacity"] == 4 and ramp["stopped_at"] is None, (key, ramp["reason"])
        assert [lv["concurrency"] for lv in ramp["levels"]] == [1, 2, 4]
        for lv in ramp["levels"]:
            n = lv["concurrency"]
            assert lv["held"] and lv["errors"] == {}
            assert lv["transfers_per_stream"] == 4 // n
            assert lv["streams_ok"] == n and lv["bytes_moved"] == 4 * MiB
            assert lv["aggregate_mb_s"] > 0 and 0 < lv["jain_index"] <= 1.0
            peaks = {p["name"]: p for p in lv["processes"]}
            assert set(peaks) == {"host", "plugin"}, peaks
            for peak in peaks.values():
                assert peak["source"] == "psutil" and 4 * MiB < peak["peak_bytes"] < 128 * MiB
            has_downloads = ramp["mode"] != "upload"
            assert (lv["ttfb_p99_ms"] is not None) == has_downloads
    run_dir = next(tmp_path.iterdir())
    md = (run_dir / "summary.md").read_text()
    assert "| bridge | upload | **4** | - | held every level up to 4" in md
    assert (run_dir / "capacity_memory.png").stat().st_size > 10_000
    assert (run_dir / "capacity_throughput.png").is_file()


def test_a_cap_below_the_processes_stops_every_ramp_at_once_and_says_why(tmp_path: Path) -> None:
    proc, summary = run_capacity(tmp_path, "--memory-cap", "4m", "--modes", "upload")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (ramp,) = summary["ramps"]
    assert (ramp["capacity"], ramp["stopped_at"]) == (0, 1)
    assert "memory: host peaked at" in ramp["reason"] and "> cap 4 MiB" in ramp["reason"]
    assert len(ramp["levels"]) == 1, "no level runs after the one that broke"


def test_fresh_processes_and_the_same_bytes_per_level(tmp_path: Path) -> None:
    """--same-bytes: every level moves as much as the highest (4 x 1 MiB); --fresh: each
    level in its own host and plugin; the report gives each process's peak growth."""
    proc, summary = run_capacity(
        tmp_path,
        *("--levels", "1,4", "--modes", "download,mixed", "--stream-bytes", "1m"),
        *("--min-level-bytes", "0", "--same-bytes", "--fresh"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert summary["settings"]["same_bytes"] and summary["settings"]["fresh"]
    for ramp in summary["ramps"]:
        assert [lv["concurrency"] for lv in ramp["levels"]] == [1, 4]
        for lv in ramp["levels"]:
            assert lv["errors"] == {} and lv["stream_bytes"] * lv["concurrency"] == 4 * MiB
            assert lv["bytes_moved"] == 4 * MiB
        for process in ("host", "plugin"):
            pids = {
                p["pid"] for lv in ramp["levels"] for p in lv["processes"] if p["name"] == process
            }
            assert len(pids) == 2, (ramp["key"], process, pids)
    md = (next(tmp_path.iterdir()) / "summary.md").read_text()
    assert "## Peak growth with the number of streams" in md
    assert "| bridge/download | host |" in md and "| bridge/mixed | plugin |" in md


def test_levels_share_processes_without_fresh(tmp_path: Path) -> None:
    proc, summary = run_capacity(
        tmp_path, "--levels", "1,2", "--modes", "download", "--stream-bytes", "1m"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (ramp,) = summary["ramps"]
    assert [lv["stream_bytes"] for lv in ramp["levels"]] == [MiB, MiB]
    pids = [{p["name"]: p["pid"] for p in lv["processes"]} for lv in ramp["levels"]]
    assert pids[0] == pids[1] and pids[0]["host"] and pids[0]["plugin"]


def test_fresh_refuses_running_services(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "capacity",
            "--fresh",
            "--target-url",
            "http://127.0.0.1:1",
            "--results-dir",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "--fresh" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_file_ramps_stream_offload_and_go_direct_serving_the_same_file(tmp_path: Path) -> None:
    """A file streamed through the plugin, the same file offloaded to the host, and Go
    direct serving it: three ramps on the run's file transfers, every byte checked."""
    if not plugin_serves_files():
        pytest.skip("the plugin runtime has no --files-root (its /file route) yet")
    proc, summary = run_capacity(
        tmp_path,
        *("--targets", "bridge,go-direct", "--modes", "file,file-offload"),
        *("--levels", "1,2", "--min-level-bytes", "0"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ramps = {r["key"]: r for r in summary["ramps"]}
    assert set(ramps) == {"bridge/file", "go-direct/file", "bridge/file-offload"}
    for key, ramp in ramps.items():
        assert ramp["capacity"] == 2, (key, ramp["reason"])
        for lv in ramp["levels"]:
            assert lv["errors"] == {} and lv["bytes_moved"] == lv["concurrency"] * MiB
            assert lv["ttfb_p99_ms"] is not None
