"""Result writing: summary.json schema, summary.md, PNG plots, the sweep table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.judge import assess
from bench.judge.verdicts import Tolerances
from bench.observe.samplers import Sample, Timeline
from bench.report import baseline, markdown, plots, rows
from bench.report import summary as run_summary
from bench.results import SummaryError
from bench.results.environment import Environment
from bench.results.format import SCHEMA_VERSION
from bench.results.run import ToolStep

from .conftest import synthetic_result

MiB = 1024 * 1024
ENV = Environment(cpu_count=2, python="3.11", chunk_sizes=[65536], mode="spawned")


def synthetic_run(buffering_host: bool = False):
    timeline = Timeline()
    results = []
    t = 0.0
    for kind in ("download", "upload"):
        for size in (16 * MiB, 256 * MiB):
            host_growth = size if buffering_host else 2 * MiB
            results.append(
                synthetic_result(
                    timeline,
                    kind,
                    "bridge",
                    size,
                    {"host": host_growth, "plugin": 3 * MiB},
                    t,
                    throughput=800.0,
                )
            )
            t += 2
            results.append(
                synthetic_result(
                    timeline, kind, "go-direct", size, {"host": 1 * MiB}, t, throughput=1600.0
                )
            )
            t += 2
    return results, timeline


def test_bounded_memory_verdicts_from_timeline() -> None:
    results, timeline = synthetic_run()
    verdicts = assess.bounded_memory_verdicts(results, timeline, Tolerances())
    assert len(verdicts) == 4 and all(v.passed for v in verdicts)
    results, timeline = synthetic_run(buffering_host=True)
    failed = [
        v.name
        for v in assess.bounded_memory_verdicts(results, timeline, Tolerances())
        if not v.passed
    ]
    assert failed == ["bounded-memory/download/host/c65536", "bounded-memory/upload/host/c65536"]


def test_write_run_files_and_schema(tmp_path: Path) -> None:
    results, timeline = synthetic_run()
    timeline.samples.append(Sample(0.1, "container:plugin", {"working_set_bytes": 30 * MiB}))
    verdicts = assess.all_verdicts(results, timeline, Tolerances())
    summary = run_summary.build_summary(
        profile="quick",
        environment=ENV,
        results=results,
        timeline=timeline,
        verdicts=verdicts,
        steps={"locust": ToolStep("skipped", "absent")},
        run_id="20250101T000000Z",
    )
    run_summary.write_run(tmp_path, summary, timeline, results)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["environment"]["cpu_count"] == 2
    assert data["verdicts_passed"] is True
    row = next(s for s in data["scenarios"] if s["id"] == "download/bridge/256MiB/c64KiB")
    assert row["throughput_mb_s"] == 800.0
    assert row["rss_growth_bytes"]["host"] == 2 * MiB
    assert row["samples"]["plugin"] == 3
    assert row["latency_ms"]["p50"] == 2.0
    ref = next(r for r in data["references"] if r["kind"] == "download")
    assert ref["bridge_ratio_to"]["go-direct"] == 0.5
    md = (tmp_path / "summary.md").read_text()
    assert "ALL PASSED" in md and "bounded-memory/download/plugin/c65536" in md
    assert "References side by side" in md and "locust: skipped" in md
    for png in ("rss_over_time.png", "references.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert "summary.json" in data["files"] and "rss_over_time.png" in data["files"]


def test_failed_scenario_is_a_failed_verdict(tmp_path: Path) -> None:
    timeline = Timeline()
    results = [synthetic_result(timeline, "echo", "bridge", MiB, {"host": 0}, 0.0, ok=False)]
    verdicts = assess.all_verdicts(results, timeline, Tolerances())
    assert [v.passed for v in verdicts] == [False]
    summary = run_summary.build_summary(
        profile="smoke", environment=ENV, results=results, timeline=timeline, verdicts=verdicts
    )
    run_summary.write_run(tmp_path, summary, timeline, results)
    assert "SOME FAILED" in (tmp_path / "summary.md").read_text()


def test_sweep_table_and_plot(tmp_path: Path) -> None:
    timeline = Timeline()
    results = []
    t = 0.0
    for chunk, bridge, direct in ((16384, 300.0, 1500.0), (65536, 700.0, 1600.0)):
        results.append(
            synthetic_result(
                timeline, "download", "bridge", 64 * MiB, {"host": MiB}, t, chunk, bridge
            )
        )
        results.append(
            synthetic_result(timeline, "download", "go-direct", 64 * MiB, {}, t + 2, chunk, direct)
        )
        t += 4
    scenario_rows = [rows.scenario_row(r, timeline) for r in results]
    table = [r.to_json() for r in rows.sweep_table(scenario_rows)]
    assert [(r["chunk_bytes"], r["bridge_mb_s"], r["go-direct_mb_s"]) for r in table] == [
        (16384, 300.0, 1500.0),
        (65536, 700.0, 1600.0),
    ]
    assert table[0]["bridge_vs_go_direct"] == 0.2
    assert table[1]["host_rss_growth_bytes"] == MiB
    md = markdown.sweep_markdown(rows.sweep_table(scenario_rows))
    assert "| 16KiB | download | 64MiB | 300 | 1500 | 0.20 |" in md
    png = plots.plot_throughput_vs_chunk(scenario_rows, tmp_path / "sweep.png")
    assert png is not None and png.stat().st_size > 1000


def test_copy_baseline(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    summary = {
        "schema_version": SCHEMA_VERSION,
        "profile": "full",
        "scenarios": [],
        "environment": {"mode": "external", "git_commit": "0123abcd", "git_dirty": False},
    }
    (run / "summary.json").write_text(json.dumps(summary))
    target = baseline.copy_baseline(run, tmp_path / "baseline")
    # One folder per mode and profile: only like runs are comparable.
    assert target == tmp_path / "baseline" / "external-full" / "summary.json"
    assert json.loads(target.read_text())["schema_version"] == SCHEMA_VERSION
    named = baseline.copy_baseline(run, tmp_path / "baseline", name="ci")
    assert named == tmp_path / "baseline" / "ci" / "summary.json"


def test_a_baseline_is_refused_from_a_dirty_tree_unless_allowed(tmp_path: Path) -> None:
    """A baseline of uncommitted code could not be reproduced; one without a commit neither."""
    run = tmp_path / "run"
    run.mkdir()
    env = {"mode": "spawned", "git_commit": "0123abcd", "git_dirty": True}

    def write() -> None:
        summary = {"schema_version": SCHEMA_VERSION, "profile": "quick", "scenarios": []}
        (run / "summary.json").write_text(json.dumps({**summary, "environment": env}))

    write()
    with pytest.raises(SummaryError, match=r"uncommitted changes.*--allow-dirty"):
        baseline.copy_baseline(run, tmp_path / "baseline")
    assert not (tmp_path / "baseline").exists()
    target = baseline.copy_baseline(run, tmp_path / "baseline", allow_dirty=True)
    assert target.is_file()
    env.update(git_dirty=False, git_commit=None)
    write()
    with pytest.raises(SummaryError, match="no commit"):
        baseline.copy_baseline(run, tmp_path / "baseline")


def test_sweep_table_keeps_the_largest_size_per_chunk() -> None:
    """A run with 16 MiB and 256 MiB transfers: the row is 256 MiB's, figures and label."""
    timeline = Timeline()
    results = []
    t = 0.0
    for size, bridge in ((256 * MiB, 900.0), (16 * MiB, 300.0)):
        results.append(
            synthetic_result(timeline, "download", "bridge", size, {"host": MiB}, t, 65536, bridge)
        )
        results.append(
            synthetic_result(timeline, "download", "go-direct", size, {}, t + 2, 65536, 1800.0)
        )
        t += 4
    table = [
        r.to_json() for r in rows.sweep_table([rows.scenario_row(r, timeline) for r in results])
    ]
    assert [(r["size_bytes"], r["bridge_mb_s"]) for r in table] == [(256 * MiB, 900.0)]


def test_cpu_seconds_per_gib_from_the_readings_around_the_transfers() -> None:
    """The plugin spent 0.8 CPU s moving 1 GiB; a 16 MiB transfer gets its figure too
    (marked noisy); a scenario without readings has none."""
    timeline = Timeline()
    big = synthetic_result(timeline, "download", "bridge", 1024 * MiB, {"plugin": 0}, 10.0)
    big.cpu_seconds = {"plugin": 0.8, "loadgen": 0.25}
    assert rows.cpu_seconds_per_gib(big) == pytest.approx({"plugin": 0.8, "loadgen": 0.25})
    small = synthetic_result(timeline, "download", "bridge", 16 * MiB, {"plugin": 0}, 12.0)
    small.cpu_seconds = {"plugin": 0.02}
    assert rows.cpu_seconds_per_gib(small) == pytest.approx({"plugin": 1.28})
    assert rows.scenario_row(small, timeline).cpu_noisy
    row = rows.scenario_row(big, timeline)
    assert row.cpu_seconds_per_gib == pytest.approx({"plugin": 0.8, "loadgen": 0.25})
    assert not row.cpu_noisy
    unread = synthetic_result(timeline, "download", "bridge", 16 * MiB, {"plugin": 0}, 14.0)
    assert rows.cpu_seconds_per_gib(unread) == {}


def test_a_sweep_runs_the_file_scenarios_and_sets_the_offload_beside_go_direct() -> None:
    """`bench sweep` plans file and file-offload at every chunk; the offload's row shows Go
    direct serving the same file (the host serves both the same way)."""
    assert rows.SWEEP_KINDS == ("download", "upload", "file", "file-offload")
    timeline = Timeline()
    results = [
        synthetic_result(timeline, "file", "bridge", 64 * MiB, {"host": 0}, 0.0, MiB, 500.0),
        synthetic_result(timeline, "file", "go-direct", 64 * MiB, {}, 2.0, MiB, 2000.0),
        synthetic_result(timeline, "file-offload", "bridge", 64 * MiB, {"host": 0}, 4.0, MiB, 1800),
    ]
    table = {r.kind: r for r in rows.sweep_table([rows.scenario_row(r, timeline) for r in results])}
    assert table["file"].bridge_vs_go_direct == 0.25
    assert table["file-offload"].bridge_vs_go_direct == 0.9
