"""`bench history`: the trend across run folders, synthetic and real."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.report import history
from bench.results.run import RunSummary

MiB = 1024 * 1024
REPO = Path(__file__).resolve().parents[2]
BASELINES = REPO / "results" / "baseline"


def write_run(results: Path, run_id: str, summary: dict[str, Any]) -> Path:
    folder = results / run_id
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"run_id": run_id, **summary}))
    return folder


def bench_run(created: str, ratio: float, host_peak_mib: float, slope: float) -> dict[str, Any]:
    """A `bench run` summary with the keys history reads, and nothing else."""
    return {
        "created_utc": created,
        "profile": "full",
        "environment": {
            "mode": "external",
            "git_commit": "abcdef0123456789",
            "host_go_version": "go1.26.8",
        },
        "references": [
            # A smaller size and a non-default chunk: the largest size at 1 MiB wins.
            {
                "kind": "download",
                "size_bytes": 16 * MiB,
                "chunk_bytes": MiB,
                "bridge_ratio_to": {"go-direct": 0.9},
            },
            {
                "kind": "download",
                "size_bytes": 1024 * MiB,
                "chunk_bytes": 65536,
                "bridge_ratio_to": {"go-direct": 0.1},
            },
            {
                "kind": "download",
                "size_bytes": 1024 * MiB,
                "chunk_bytes": MiB,
                "bridge_ratio_to": {
                    "go-direct": ratio,
                    "python-direct": 2 * ratio,
                    "buffered": 5.0,
                },
            },
        ],
        "scenarios": [
            {"id": "a", "peak_rss_bytes": {"host": host_peak_mib * MiB, "plugin": 50 * MiB}},
            {"id": "b", "peak_rss_bytes": {"host": 10 * MiB, "loadgen": 900 * MiB}},
        ],
        "containers": {"plugin/c1MiB": {"service": "plugin", "peak_bytes": 70 * MiB}},
        "verdicts": [
            {
                "name": "leak-slope/host/c1048576",
                "passed": slope < 1024,
                "figures": {"process": "host", "slope_bytes_per_request": slope},
            },
            {
                "name": "leak-slope/host/c65536",
                "passed": True,
                "figures": {"process": "host", "slope_bytes_per_request": -50.0},
            },
            {"name": "bounded-memory/download/host/c1048576", "passed": True, "figures": {}},
        ],
    }


def test_synthetic_runs_old_new_capacity_and_broken(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_run(results, "20260102T030000Z", bench_run("2026-01-02T03:00:00+00:00", 0.5, 40, 100))
    write_run(results, "20260103T030000Z", bench_run("2026-01-03T03:00:00+00:00", 0.4, 60, 2000))
    # An old run: no created_utc, no references, no environment, no containers.
    write_run(results, "20251201T000000Z", {"profile": "quick", "scenarios": [], "verdicts": []})
    write_run(
        results,
        "20260104T000000Z",
        {
            "kind": "capacity",
            "profile": "quick",
            "created_utc": "2026-01-04T00:00:00+00:00",
            "ramps": [{"key": "bridge/upload", "capacity": 32}, {"key": "bad", "capacity": None}],
        },
    )
    (results / "broken").mkdir()
    (results / "broken" / "summary.json").write_text("{not json")
    (results / "listy").mkdir()
    (results / "listy" / "summary.json").write_text("[1, 2]")
    (results / "notes").mkdir()  # no summary.json: not a run
    sweep = write_run(results, "20260105T000000Z", bench_run("2026-01-05T00:00:00+00:00", 1, 1, 1))
    (sweep / "sweep.md").write_text("| chunk |")

    points = history.collect(results)

    assert [p.run_id for p in points] == [
        "20251201T000000Z",
        "20260102T030000Z",
        "20260103T030000Z",
        "20260104T000000Z",
        "20260105T000000Z",
    ]
    old, first, second, capacity, swept = points
    assert swept.series == "sweep:external-full"  # its own series, not the nightly's
    assert old.created_utc == "2025-12-01T00:00:00+00:00" and old.series == "run:?-quick"
    assert old.figures == {}  # nothing it lacks is made up
    assert first.series == "run:external-full" and first.go == "go1.26.8"
    assert first.figures["ratio download / go-direct"] == 0.5
    assert first.figures["ratio download / python-direct"] == 1.0
    assert "ratio download / buffered" not in first.figures
    assert first.figures["peak host RSS"] == 40 and first.figures["peak plugin RSS"] == 50
    assert first.figures["peak plugin container"] == 70
    assert "peak loadgen RSS" not in first.figures
    assert first.figures["leak host B/request"] == 100  # the worst chunk setting
    assert second.figures["leak host B/request"] == 2000
    assert second.figures["failed leak verdicts"] == 1
    assert capacity.series == "capacity:?-quick"
    assert capacity.figures == {"capacity bridge/upload": 32}

    written = history.write_history(points, results / "history")
    names = {p.name for p in written}
    assert {"history.json", "history.md", "history_throughput.png", "history_memory.png"} <= names
    assert {"history_leak.png", "history_capacity.png"} <= names
    md = (results / "history" / "history.md").read_text()
    assert "| 2026-01-02 03:00:00 | run:external-full | abcdef012345 | go1.26.8 | 0.50 |" in md
    assert "| 2026-01-03 03:00:00 | run:external-full | abcdef012345 | go1.26.8 | 0.40 |" in md
    assert "## Capacity" in md and "| 32 |" in md


def test_the_series_outlives_the_run_folders(tmp_path: Path) -> None:
    """The nightly job uploads results/ with history/history.json: a later job that
    only has its own run folder still shows the earlier points."""
    results = tmp_path / "results"
    old = write_run(results, "20260101T000000Z", bench_run("2026-01-01T00:00:00+00:00", 1, 1, 1))
    assert history.run(results) == 0
    shutil.rmtree(old)
    write_run(results, "20260102T000000Z", bench_run("2026-01-02T00:00:00+00:00", 2, 2, 2))
    assert history.run(results) == 0
    kept = json.loads((results / "history" / "history.json").read_text())["points"]
    assert [p["run_id"] for p in kept] == ["20260101T000000Z", "20260102T000000Z"]
    assert [p["figures"]["ratio download / go-direct"] for p in kept] == [1, 2]


def test_corrupt_kept_series_is_ignored_not_fatal(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_run(results, "20260101T000000Z", bench_run("2026-01-01T00:00:00+00:00", 1, 1, 1))
    (results / "history").mkdir()
    (results / "history" / "history.json").write_text('{"points": [{"run_id": 1}]}')
    assert [p.run_id for p in history.collect(results)] == ["20260101T000000Z"]


def test_real_baselines(tmp_path: Path) -> None:
    """The committed baselines are real run folders of three series."""
    points = history.collect(tmp_path / "empty", baselines_dir=BASELINES)
    by_name = {p.baseline: p for p in points}
    assert set(by_name) == {p.name for p in BASELINES.iterdir() if (p / "summary.json").is_file()}
    for point in points:
        if point.kind == "capacity":  # a ramp: capacity per target and mode, no ratios
            assert point.figures["capacity bridge/download"] >= 1
            continue
        assert point.figures["ratio download / go-direct"] > 0
        assert point.figures["peak host RSS"] > 1 and point.figures["peak plugin RSS"] > 1
    quick = json.loads((BASELINES / "spawned-quick" / "summary.json").read_text())
    largest = max(
        (r for r in quick["references"] if r["kind"] == "upload" and r["chunk_bytes"] == MiB),
        key=lambda r: r["size_bytes"],
    )
    expected = largest["bridge_ratio_to"]["python-direct"]
    assert by_name["spawned-quick"].figures["ratio upload / python-direct"] == expected
    assert by_name["external-full"].figures["peak plugin container"] > 1
    md = history.markdown(points)
    assert "(baseline external-full)" in md and "run:external-full" in md


def test_cli_writes_the_trend_and_says_when_there_is_nothing(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_run(results, "20260101T000000Z", bench_run("2026-01-01T00:00:00+00:00", 1, 1, 1))
    out = tmp_path / "trend"

    def bench(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bench", "history", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=REPO,
        )

    proc = bench(str(results), "--out", str(out), "--baselines", str(BASELINES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    baselines = [p for p in BASELINES.iterdir() if (p / "summary.json").is_file()]
    assert f"history of {1 + len(baselines)} runs written" in proc.stdout
    assert (out / "history.md").is_file() and (out / "history_memory.png").stat().st_size > 5000
    empty = bench(str(tmp_path / "nothing"), "--baselines", str(tmp_path / "none"))
    assert empty.returncode == 2 and "no run folders" in empty.stdout


@pytest.mark.parametrize("created", ["2026-01-02T03:00:00+01:00", "garbage"])
def test_time_of_a_run_from_created_utc_or_its_folder_name(tmp_path: Path, created: str) -> None:
    write_run(tmp_path, "20260102T020000Z", {"created_utc": created})
    (point,) = history.collect(tmp_path)
    assert point.created_utc == "2026-01-02T02:00:00+00:00"


def test_leak_figures_take_the_worst_growth_per_counter_and_old_slopes() -> None:
    summary = {
        "verdicts": [
            {
                "name": "leak/host.heap_live_bytes/c65536",
                "passed": True,
                "figures": {"counter": "host.heap_live_bytes", "growth_per_request": 3.5},
            },
            {
                "name": "leak/host.heap_live_bytes/c1048576",
                "passed": False,
                "figures": {"counter": "host.heap_live_bytes", "growth_per_request": 280.0},
            },
            {
                "name": "leak-slope/plugin/c1048576",
                "passed": True,
                "figures": {"process": "plugin", "slope_bytes_per_request": 12.0},
            },
        ]
    }
    figures = history.leak_figures(RunSummary.from_json(summary))
    assert figures["leak host.heap_live_bytes /request"] == 280.0
    assert figures["leak plugin B/request"] == 12.0
    assert figures["failed leak verdicts"] == 1.0


def floor(size: int, host: tuple[float, float, float], plugin: tuple[float, float, float]):
    """A `floors` entry: per side (bridge, floor, two hops) in CPU s/GiB."""
    sides = {"host": host, "plugin": plugin}
    sides["total"] = tuple(a + b for a, b in zip(host, plugin, strict=True))
    return {
        "kind": "download",
        "size_bytes": size,
        "chunk_bytes": MiB,
        **{s: dict(zip(("bridge", "floor", "two_hops"), v, strict=True)) for s, v in sides.items()},
    }


def test_the_distance_to_the_floor_is_a_column_over_runs(tmp_path: Path) -> None:
    """Bridge / gRPC floor and bridge / two hops per side, at the largest size, each run."""
    results = tmp_path / "results"
    for day, host_bridge in ((2, 1.2), (3, 1.8)):
        run = bench_run(f"2026-01-0{day}T03:00:00+00:00", 0.5, 40, 100)
        run["floors"] = [
            floor(16 * MiB, (9.0, 1.0, 1.0), (9.0, 1.0, 1.0)),  # smaller: does not speak
            floor(1024 * MiB, (host_bridge, 1.0, 0.6), (0.6, 0.5, 0.3)),
        ]
        write_run(results, f"2026010{day}T030000Z", run)
    first, second = history.collect(results)
    assert first.figures["floor download host x floor"] == pytest.approx(1.2)
    assert first.figures["floor download host x two hops"] == pytest.approx(2.0)
    assert first.figures["floor download total x floor"] == pytest.approx(1.8 / 1.5)
    assert first.figures["floor download total x two hops"] == pytest.approx(1.8 / 0.9)
    assert second.figures["floor download host x floor"] == pytest.approx(1.8)
    history.write_history([first, second], results / "history")
    md = (results / "history" / "history.md").read_text()
    section = md.split("## Bridge CPU per GiB as a multiple of its floor", 1)[1].split("\n## ")[0]
    assert "download host x floor" in section and "download total x two hops" in section
    assert "| 1.20 |" in section and "| 1.80 |" in section
