"""The regression gate: regression, improvement, tolerance, missing scenario, bad files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.judge import compare
from bench.results import SummaryError, load_summary
from bench.results.run import RunSummary

MiB = 1024 * 1024


def scenario(sid: str, target: str, mb_s: float, host: float, plugin: float) -> dict[str, Any]:
    return {
        "id": sid,
        "target": target,
        "ok": True,
        "throughput_mb_s": mb_s,
        "rss_growth_bytes": {"host": host, "plugin": plugin, "loadgen": 500 * MiB},
        "container_peak_bytes": {},
    }


def summary(bridge: float = 800.0, direct: float = 1600.0, plugin: float = 4 * MiB, blocks=0.02):
    return {
        "schema_version": 1,
        "scenarios": [
            scenario("download/bridge/256MiB/c64KiB", "bridge", bridge, 2 * MiB, plugin),
            scenario("download/go-direct/256MiB/c64KiB", "go-direct", direct, MiB, 0),
        ],
        "verdicts": [
            {
                "name": "leak/plugin.allocated_blocks/c65536",
                "passed": blocks <= 0.5,
                "figures": {"growth_per_request": blocks, "limit_per_request": 0.5},
            },
        ],
    }


def gate(base: dict[str, Any], cur: dict[str, Any]) -> compare.Comparison:
    return compare.compare(RunSummary.from_json(base), RunSummary.from_json(cur))


def statuses(result: compare.Comparison) -> dict[tuple[str, str], str]:
    return {(c.scenario, c.metric): c.status for c in result.checks}


def test_identical_runs_have_no_regression() -> None:
    result = gate(summary(), summary())
    assert not result.regressions
    assert ("download/bridge/256MiB/c64KiB", "throughput/go-direct") in statuses(result)
    # the load generator's own memory is never gated
    assert not any(c.metric == "rss_growth/loadgen" for c in result.checks)


def test_memory_regression() -> None:
    result = gate(summary(), summary(plugin=64 * MiB))
    assert statuses(result)[("download/bridge/256MiB/c64KiB", "rss_growth/plugin")] == "REGRESSION"


def test_within_tolerance_is_ok() -> None:
    result = gate(summary(plugin=4 * MiB), summary(plugin=7 * MiB, bridge=700))
    assert not result.regressions


def test_improvement_is_reported_not_failed() -> None:
    result = gate(summary(bridge=400), summary(bridge=800))
    assert statuses(result)[("download/bridge/256MiB/c64KiB", "throughput/go-direct")] == (
        "improved"
    )
    assert not result.regressions


def test_slower_machine_is_not_a_regression_when_ratio_holds() -> None:
    # Everything half as fast, bridge/go-direct ratio unchanged: normalised, no regression.
    result = gate(summary(), summary(bridge=400, direct=800))
    assert not result.regressions
    # The same raw drop with go-direct unchanged is a regression.
    result = gate(summary(), summary(bridge=400, direct=1600))
    assert [c.metric for c in result.regressions] == ["throughput/go-direct"]


def test_a_leak_is_a_regression_and_drift_under_the_limit_is_not() -> None:
    key = ("leak/plugin.allocated_blocks/c65536", "leak_growth/request")
    assert statuses(gate(summary(), summary(blocks=1.0)))[key] == "REGRESSION"
    assert statuses(gate(summary(), summary(blocks=0.3)))[key] == "ok"


def test_a_leak_is_a_regression_against_a_baseline_without_leak_verdicts() -> None:
    # Baselines from before the round-based soak carry leak-slope/* verdicts only.
    baseline = summary()
    baseline["verdicts"] = [
        {"name": "leak-slope/plugin/c65536", "figures": {"slope_bytes_per_request": 40.0}}
    ]
    (check,) = [
        c for c in gate(baseline, summary(blocks=1.0)).checks if c.scenario.startswith("leak")
    ]
    assert check.status == "REGRESSION" and check.baseline is None


def test_failed_scenario_is_a_regression() -> None:
    current = summary()
    current["scenarios"][0]["ok"] = False
    current["scenarios"][0]["error"] = "truncated"
    assert gate(summary(), current).regressions[0].metric == "ok"


def test_missing_scenario_is_a_clear_error() -> None:
    current = summary()
    del current["scenarios"][0]
    with pytest.raises(compare.CompareError, match=r"lacks scenarios.*download/bridge/256MiB"):
        gate(summary(), current)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"schema_version": 99, "scenarios": []}), "schema_version 99"),
        (json.dumps({"schema_version": 1}), "'scenarios' missing"),
        (json.dumps({"schema_version": 1, "scenarios": [{"x": 1}]}), r"scenarios\[0\]"),
    ],
)
def test_malformed_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "summary.json"
    path.write_text(content)
    with pytest.raises(SummaryError, match=message):
        load_summary(path)


def test_cli_exit_codes_and_markdown(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    base, good, bad = tmp_path / "base.json", tmp_path / "good.json", tmp_path / "bad.json"
    base.write_text(json.dumps(summary()))
    good.write_text(json.dumps(copy.deepcopy(summary())))
    bad.write_text(json.dumps(summary(plugin=200 * MiB)))
    md = tmp_path / "step.md"
    assert main(["compare", str(base), str(good)]) == 0
    assert "no regression" in capsys.readouterr().out
    assert main(["compare", str(base), str(bad), "--markdown", str(md)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "rss_growth/plugin" in out
    assert "**1 regression(s)**" in md.read_text()
    assert main(["compare", str(base), str(tmp_path / "nope.json")]) == 2
    assert "no such file" in capsys.readouterr().err
