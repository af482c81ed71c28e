"""The results format: every record reads back what it wrote, older files read too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.results import SummaryError, load_summary
from bench.results.ab import ABRound, ABRun, ABTarget
from bench.results.containers import ContainerFigures
from bench.results.environment import Environment
from bench.results.run import (
    Distance,
    FloorRow,
    LatencyMs,
    ReferenceRow,
    RunSummary,
    ScenarioRow,
    SweepRow,
    ToolStep,
)
from bench.results.verdict import Verdict

MiB = 1024 * 1024


def full_summary() -> RunSummary:
    return RunSummary(
        run_id="20260101T000000Z",
        created_utc="2026-01-01T00:00:00+00:00",
        profile="quick",
        environment=Environment(mode="spawned", cpu_count=2, git_commit="abc", settings={"A": "1"}),
        scenarios=[
            ScenarioRow(
                "download/bridge/256MiB/c1MiB",
                "download",
                "bridge",
                "down",
                256 * MiB,
                MiB,
                throughput_mb_s=900.0,
                latency_ms=LatencyMs(1.0, 2.0, 1.5, 3),
                rss_growth_bytes={"host": 2.0 * MiB},
                cpu_seconds_per_gib={"host": 0.6},
                extra={"runs_seconds": [0.3]},
            )
        ],
        references=[ReferenceRow("download", 256 * MiB, MiB, values={"bridge": 900.0})],
        floors=[FloorRow("download", 256 * MiB, MiB, Distance(0.6, 0.5, 0.1))],
        verdicts=[Verdict("bounded-memory/download/host/c1048576", True, "ok", {"x": 1})],
        steps={"locust": ToolStep("skipped", "--no-locust")},
        containers={"plugin/c1MiB": ContainerFigures("plugin", "p-1", 128 * MiB, 3, 1, 40 * MiB)},
        sweep=[
            SweepRow(
                MiB,
                "download",
                256 * MiB,
                {"bridge": 900.0, "go-direct": 3000.0},
                {"host": 2.0},
                {"host": 0.6},
            )
        ],
        files=["summary.json"],
    )


def test_a_run_summary_reads_back_what_it_wrote(tmp_path: Path) -> None:
    summary = full_summary()
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary.to_json()))
    back = load_summary(path)
    assert isinstance(back, RunSummary)
    back.path = ""
    assert back == summary
    data = json.loads(path.read_text())
    # Derived figures are written for readers of the JSON, and not read back.
    assert data["floors"][0]["host"]["ratio_to_floor"] == pytest.approx(1.2)
    assert data["containers"]["plugin/c1MiB"]["within_limit"] is True
    assert data["verdicts_passed"] is True and data["kind"] == "run"


def test_a_version_1_summary_reads_with_what_it_lacks_empty(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "run_id": "old",
                "profile": "quick",
                "environment": {"mode": "external", "chunk_sizes": [65536], "unknown_key": 1},
                "scenarios": [{"id": "a", "ok": True, "latency_ms": {"p50": 1, "p99": 2}}],
                "references": [
                    {
                        "kind": "download",
                        "size_bytes": 1,
                        "chunk_bytes": 1,
                        "bridge_ratio_to": {"go-direct": 0.3},
                    }
                ],
            }
        )
    )
    old = load_summary(path)
    assert isinstance(old, RunSummary)
    assert old.floors == [] and old.environment.settings == {} and old.schema_version == 1
    assert old.scenarios[0].latency_ms == LatencyMs(1, 2)
    assert old.references[0].cpu_s_per_gib == {}


def test_an_ab_run_reads_back_and_gives_its_ratios(tmp_path: Path) -> None:
    run = ABRun(
        "r",
        "t",
        "quick",
        "rps",
        "req/s",
        "us/request",
        Environment(),
        [
            ABTarget("bridge", "", [ABRound(1000.0, cpu={"host": 200.0}), ABRound(900.0)]),
            ABTarget("python-direct", "", [ABRound(2000.0), ABRound(1800.0)]),
        ],
        reference="python-direct",
    )
    (tmp_path / "summary.json").write_text(json.dumps(run.to_json()))
    back = load_summary(tmp_path)
    assert isinstance(back, ABRun)
    back.path = ""
    assert back == run
    assert back.ratios("bridge") == [0.5, 0.5]
    assert back.target("bridge").median_value == 950.0  # type: ignore[union-attr]


def test_a_capacity_summary_without_ramps_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"schema_version": 2, "kind": "capacity"}))
    with pytest.raises(SummaryError, match="without a 'ramps' list"):
        load_summary(tmp_path)
