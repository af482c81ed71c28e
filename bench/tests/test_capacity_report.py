"""The capacity run folder, its JSON read back, the link from `bench run`, and the gate."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from bench import cli
from bench.capacity import report
from bench.capacity.ramp import run_ramp
from bench.judge import compare
from bench.results import summary_from_json
from bench.results.capacity import (
    DOWNLOAD,
    UPLOAD,
    CapacityRun,
    Limits,
    Ramp,
    RampSettings,
)
from bench.results.environment import Environment
from bench.results.format import SCHEMA_VERSION
from bench.results.run import RunSummary
from bench.tests.test_capacity_ramp import level

MiB = 1024 * 1024
LIMITS = Limits(memory_cap_bytes=128 * MiB, ttfb_slo_s=2.0)


def ramp(target: str, mode: str, plugin_mib: list[int]) -> Ramp:
    """A judged ramp whose plugin peaks at the given MiB level after level."""
    levels = [2**i for i in range(len(plugin_mib))]
    by_level = dict(zip(levels, plugin_mib, strict=True))

    def run_level(n: int) -> Any:
        lv = level(n, peaks={"host": 30 * MiB, "plugin": by_level[n] * MiB})
        lv.target, lv.mode = target, mode
        return lv

    return run_ramp(target, mode, levels, run_level, LIMITS)


def capacity_run(
    run_id: str = "20260101T000000Z", upload_mib: list[int] | None = None
) -> CapacityRun:
    return CapacityRun(
        run_id=run_id,
        created_utc="2026-01-01T00:00:00+00:00",
        profile="quick",
        settings=RampSettings((1, 2, 4, 8), LIMITS, 8 * MiB, 0, MiB),
        environment=Environment(cpu_count=2, mode="spawned"),
        ramps=[
            ramp("bridge", DOWNLOAD, [50, 60, 70, 80]),
            ramp("bridge", UPLOAD, upload_mib or [50, 70, 100, 150]),
            ramp("go-direct", UPLOAD, [20, 20, 21, 22]),
        ],
    )


def as_summary(run: CapacityRun) -> dict[str, Any]:
    return json.loads(json.dumps(run.to_json()))


def gate(base: dict[str, Any], cur: dict[str, Any]) -> compare.Comparison:
    return cli.gate(summary_from_json(base), summary_from_json(cur))


def test_json_round_trip_keeps_every_level() -> None:
    run = capacity_run()
    data = as_summary(run)
    assert data["kind"] == "capacity" and data["schema_version"] == SCHEMA_VERSION
    assert [r["key"] for r in data["ramps"]] == [
        "bridge/download",
        "bridge/upload",
        "go-direct/upload",
    ]
    assert data["ramps"][1]["levels"][-1]["held"] is False
    back = CapacityRun.from_json(data)
    assert back.ramps == run.ramps and back.limits == run.limits


def test_run_folder_has_the_capacity_table_and_both_plots(tmp_path: Path) -> None:
    run = capacity_run()
    run.ramps[0].levels[0].client_cpu_cores = 0.95
    run.ramps[0].levels[1].client_cpu_cores = 0.3
    report.write_capacity_run(tmp_path, run)
    for name in ("summary.json", "summary.md", report.THROUGHPUT_PNG, report.MEMORY_PNG):
        assert (tmp_path / name).is_file(), name
        assert name in run.files
    assert (tmp_path / report.MEMORY_PNG).stat().st_size > 10_000
    md = (tmp_path / "summary.md").read_text()
    assert (
        "| bridge | upload | **4** | 8 | memory: plugin peaked at 150.0 MiB > cap 128 MiB |" in md
    )
    assert "| bridge | download | **8** | - | held every level up to 8" in md
    assert "## Every level" in md and "client cores" in md
    assert "| 0.95 (client-bound?) |" in md and "| 0.30 |" in md
    assert "The load generator used at most 0.95 CPU cores" in md
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {r["key"]: r["capacity"] for r in summary["ramps"]} == {
        "bridge/download": 8,
        "bridge/upload": 4,
        "go-direct/upload": 8,
    }


def test_bench_run_summary_links_the_latest_earlier_capacity_run(tmp_path: Path) -> None:
    older = tmp_path / "20260101T000000Z"
    report.write_capacity_run(older, capacity_run(older.name))
    newer = tmp_path / "20260102T000000Z"
    report.write_capacity_run(newer, capacity_run(newer.name, upload_mib=[50, 60, 70, 80]))
    plain = tmp_path / "20260102T000001Z"  # a `bench run` folder is not a capacity run
    plain.mkdir()
    (plain / "summary.json").write_text(json.dumps({"schema_version": 1, "scenarios": []}))
    run_dir = tmp_path / "20260103T000000Z"
    run_dir.mkdir()
    (run_dir / "summary.md").write_text("# streambench run\n")
    summary = RunSummary(run_dir.name)

    report.link_latest(run_dir, summary)

    md = (run_dir / "summary.md").read_text()
    assert "(../20260102T000000Z/summary.md)" in md and "| bridge | upload | **8** |" in md
    linked = json.loads((run_dir / "summary.json").read_text())["latest_capacity"]
    assert linked["run_id"] == "20260102T000000Z"
    assert linked["capacity"]["bridge/upload"] == 8


def test_no_capacity_run_leaves_the_bench_run_summary_alone(tmp_path: Path) -> None:
    run_dir = tmp_path / "20260103T000000Z"
    run_dir.mkdir()
    (run_dir / "summary.md").write_text("# streambench run\n")
    report.link_latest(run_dir, RunSummary(run_dir.name))
    assert (run_dir / "summary.md").read_text() == "# streambench run\n"


def test_gate_passes_the_same_run() -> None:
    summary = as_summary(capacity_run())
    result = gate(summary, copy.deepcopy(summary))
    assert not result.regressions
    assert {c.metric for c in result.checks} >= {"capacity", "peak_memory/plugin"}


def test_gate_fails_when_the_bridge_capacity_drops() -> None:
    base = as_summary(capacity_run())
    cur = as_summary(capacity_run(upload_mib=[50, 70, 130, 150]))  # now breaks at 4
    result = gate(base, cur)
    (regression,) = [c for c in result.regressions if c.metric == "capacity"]
    assert regression.scenario == "bridge/upload"
    assert (regression.baseline, regression.current) == (4, 2)
    assert "stopped at 4" in regression.note


def test_gate_fails_when_memory_per_level_rises_beyond_tolerance() -> None:
    base = as_summary(capacity_run())
    grown = copy.deepcopy(base)
    plugin = grown["ramps"][0]["levels"][1]["processes"][1]
    assert plugin["name"] == "plugin"
    plugin["peak_bytes"] = 60 * MiB * 1.25 + 8 * MiB + 1  # just over x1.25 + 8 MiB
    result = gate(base, grown)
    (regression,) = result.regressions
    assert (regression.scenario, regression.metric) == ("bridge/download/x2", "peak_memory/plugin")
    within = copy.deepcopy(base)
    within["ramps"][0]["levels"][1]["processes"][1]["peak_bytes"] = 60 * MiB * 1.25 + 8 * MiB
    assert not gate(base, within).regressions


def test_gate_does_not_fail_on_a_reference() -> None:
    base = as_summary(capacity_run())
    cur = copy.deepcopy(base)
    cur["ramps"][2]["capacity"] = 1
    checks = [c for c in gate(base, cur).checks if c.scenario == "go-direct/upload"]
    assert [c.status for c in checks if c.metric == "capacity"] == ["info"]


def test_gate_refuses_missing_ramps_and_mixed_kinds() -> None:
    base = as_summary(capacity_run())
    cur = copy.deepcopy(base)
    del cur["ramps"][1]
    with pytest.raises(compare.CompareError, match="bridge/upload"):
        gate(base, cur)
    with pytest.raises(compare.CompareError, match="only with a capacity run"):
        gate(base, {"schema_version": 1, "scenarios": []})


def test_compare_cli_exit_codes_on_capacity_runs(tmp_path: Path) -> None:
    base, cur = tmp_path / "base", tmp_path / "cur"
    report.write_capacity_run(base, capacity_run())
    report.write_capacity_run(cur, capacity_run(upload_mib=[50, 200, 200, 200]))
    assert cli.main(["compare", str(base), str(base)]) == 0
    assert cli.main(["compare", str(base), str(cur)]) == 1
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text(json.dumps({"schema_version": 1, "kind": "capacity"}))
    assert cli.main(["compare", str(base), str(broken)]) == 2


def test_peak_growth_from_the_fewest_streams_to_the_most_that_held() -> None:
    """Per process: the peak at the lowest level against the peak at the highest that held."""
    grown = ramp("bridge", DOWNLOAD, [50, 55, 60, 80])
    broke = ramp("bridge", UPLOAD, [50, 70, 100, 150])  # 8 broke: the growth is to 4
    rows = report.peak_growth_rows([grown, broke])
    assert ["bridge/download", "plugin", "50.0 at 1", "80.0 at 8", "+60%"] in rows
    assert ["bridge/upload", "plugin", "50.0 at 1", "100.0 at 4", "+100%"] in rows
    assert ["bridge/download", "host", "30.0 at 1", "30.0 at 8", "+0%"] in rows


def test_gate_refuses_a_run_under_other_limits() -> None:
    """Another memory cap (a container's too), TTFB SLO, stream size or profile: not
    comparable, never passed."""
    base = capacity_run()
    for change in (
        {"limits": Limits(memory_cap_bytes=256 * MiB, ttfb_slo_s=2.0)},
        {"limits": Limits(memory_cap_bytes=128 * MiB, ttfb_slo_s=5.0)},
        {"limits": Limits(128 * MiB, 2.0, container_caps={"go-plugin": 256 * MiB})},
        {"stream_bytes": 16 * MiB},
        {"levels": (1, 2, 4)},
    ):
        other = capacity_run()
        other.settings = dataclasses.replace(other.settings, **change)
        with pytest.raises(compare.CompareError, match="not comparable"):
            cli.gate(base, other)
    other = capacity_run()
    other.profile = "full"
    with pytest.raises(compare.CompareError, match="profile quick vs full"):
        cli.gate(base, other)


def test_gate_reports_a_higher_capacity_as_improved() -> None:
    base = capacity_run(upload_mib=[50, 70, 130, 150])  # the upload ramp broke at 4
    better = capacity_run()  # ... now at 8
    (check,) = [
        c
        for c in cli.gate(base, better).checks
        if c.scenario == "bridge/upload" and c.metric == "capacity"
    ]
    assert check.status == "improved" and (check.baseline, check.current) == (2, 4)
