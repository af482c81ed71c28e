"""Both gates compare like with like, state their tolerances beside the verdict, say
which limits cannot see a 2x regression, and still read the committed baselines."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from bench import cli
from bench.capacity import report
from bench.core.paths import BASELINE_DIR, REPO_ROOT
from bench.judge import compare
from bench.judge.compare import CompareTolerances, NotComparable
from bench.report.comparison import markdown
from bench.results import load_summary
from bench.results.capacity import CapacityRun
from bench.tests.test_capacity_report import capacity_run
from bench.tests.test_compare import summary, with_environment

MiB = 1024 * 1024
BASELINES = BASELINE_DIR


def test_each_tolerance_says_whether_it_can_see_a_2x_regression() -> None:
    default = CompareTolerances().describe()
    assert (
        "RSS growth: baseline x 1.5 + 8 MiB (sees a doubling only of figures over 16.0"
        in (default[0])
    )
    assert (
        "peaks: baseline x 1.25 + 8 MiB (sees a doubling only of figures over 10.7" in (default[1])
    )
    assert "baseline x 0.75 (sees a 2x drop)" in default[2]
    assert "baseline x 1.5 + 2 ms (sees a doubling only of figures over 4 ms)" in default[3]
    loose = CompareTolerances(throughput_fraction=0.6, latency_fraction=5).describe()
    assert "baseline x 0.4 (cannot see a 2x drop" in loose[2]
    assert "baseline x 6 + 2 ms (cannot see a doubling at all)" in loose[3]


def test_the_markdown_states_the_tolerances_beside_the_verdict(tmp_path: Path) -> None:
    result = compare.compare(*(load(tmp_path, summary(), name) for name in ("a", "b")))
    text = markdown(result, "base", "cur")
    _, rest = text.split("**no regression**", 1)
    assert rest.lstrip().startswith("Tolerances: RSS growth")
    assert rest.index("Tolerances") < rest.index("| scenario |")


def load(tmp_path: Path, data: dict, name: str):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return load_summary(path)


def test_a_loose_throughput_gate_says_it_cannot_see_a_halving(tmp_path: Path, capsys) -> None:
    """--throughput-tolerance 0.6: the bridge at half its ratio to Go direct passes, and
    the output says that this gate could not have seen it."""
    base = tmp_path / "base.json"
    base.write_text(json.dumps(summary()))
    halved = tmp_path / "halved.json"
    halved.write_text(json.dumps(summary(bridge=400.0)))
    assert cli.main(["compare", str(base), str(halved), "--throughput-tolerance", "0.6"]) == 0
    out = capsys.readouterr().out
    assert "cannot see a 2x drop" in out and "throughput" in out.split("Too loose")[1]
    assert cli.main(["compare", str(base), str(halved)]) == 1


def test_not_comparable_is_exit_2_with_the_reasons_in_terminal_and_markdown(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    base, cur = tmp_path / "base.json", tmp_path / "cur.json"
    base.write_text(json.dumps(with_environment(summary())))
    cur.write_text(json.dumps(with_environment(summary(), mode="docker", chunk_sizes=[16384])))
    md = tmp_path / "step.md"
    assert cli.main(["compare", str(base), str(cur), "--markdown", str(md)]) == 2
    err = capsys.readouterr().err
    assert "NOT COMPARABLE" in err and "mode spawned vs docker" in err
    assert "chunk sizes [65536] vs [16384]" in err
    written = md.read_text()
    assert "**NOT COMPARABLE** (exit 2)" in written and "- mode spawned vs docker" in written


def capacity_gate(base: CapacityRun, cur: CapacityRun) -> compare.Comparison:
    return cli.gate(base, cur)


def test_capacity_ramps_of_other_targets_or_modes_are_not_comparable() -> None:
    base = capacity_run()
    fewer = capacity_run()
    fewer.ramps = fewer.ramps[:2]  # no go-direct ramp
    with pytest.raises(NotComparable, match="ramps of the baseline missing: go-direct/upload"):
        capacity_gate(base, fewer)
    with pytest.raises(NotComparable, match="ramps the baseline has not: go-direct/upload"):
        capacity_gate(fewer, base)


def test_capacity_under_other_settings_or_fresh_processes_is_not_comparable() -> None:
    base = capacity_run()
    fresh = capacity_run()
    fresh.settings = dataclasses.replace(fresh.settings, fresh=True)
    with pytest.raises(NotComparable, match="fresh False vs True"):
        capacity_gate(base, fresh)
    knob = capacity_run()
    knob.environment = dataclasses.replace(knob.environment, settings={"HOSTSTUB_X": "1"})
    with pytest.raises(NotComparable, match="setting HOSTSTUB_X: unset vs 1"):
        capacity_gate(base, knob)
    other_mode = capacity_run()
    other_mode.environment = dataclasses.replace(other_mode.environment, mode="external")
    with pytest.raises(NotComparable, match="mode spawned vs external"):
        capacity_gate(base, other_mode)


def test_the_capacity_verdict_states_its_limits_and_tolerances() -> None:
    result = capacity_gate(capacity_run(), capacity_run())
    text = " ".join(result.tolerances)
    assert "capacity: no drop" in text
    assert "cap of 128 MiB and a TTFB p99 SLO of 2000 ms" in text
    assert "peaks: baseline x 1.25 + 8 MiB" in text


@pytest.mark.parametrize("name", sorted(p.name for p in BASELINES.glob("*/")))
def test_every_committed_baseline_loads_and_passes_against_itself(name: str) -> None:
    baseline = load_summary(BASELINES / name)
    assert baseline.environment.mode in ("spawned", "external")
    result = cli.gate(baseline, copy.deepcopy(baseline))
    assert result.checks and not result.regressions


def test_the_committed_capacity_baseline_ramped_as_the_nightly_workflow_ramps(
    tmp_path: Path,
) -> None:
    """The nightly capacity baseline was ramped under the workflow's TTFB SLO (60 s) and
    the containers' own caps; a run under the command's default SLO (2 s) is refused,
    never compared."""
    baseline = load_summary(BASELINES / "capacity-external-quick")
    assert isinstance(baseline, CapacityRun)
    workflow = (REPO_ROOT / ".github" / "workflows" / "nightly.yml").read_text()
    assert 'BENCH_CAPACITY_TTFB_SLO_MS: "60000"' in workflow
    assert baseline.limits.ttfb_slo_s == 60.0
    assert baseline.limits.container_caps["go-plugin"] == 256 * 2**20
    today = copy.deepcopy(baseline)
    today.settings = dataclasses.replace(
        today.settings, limits=dataclasses.replace(today.limits, ttfb_slo_s=2.0)
    )
    report.write_capacity_run(tmp_path / "today", today)
    with pytest.raises(NotComparable, match=r"TTFB SLO 60\.0 s vs 2\.0 s"):
        cli.gate(baseline, load_summary(tmp_path / "today"))


def test_bench_baseline_records_where_it_came_from_and_refuses_a_dirty_tree(
    tmp_path: Path, capsys
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    data = with_environment(summary(), git_commit="0123abcd", git_dirty=True)
    data["environment"].update(cpu_model="Xeon", memory_total_bytes=24 * 2**30, grpcio="1.7")
    (run / "summary.json").write_text(json.dumps(data))
    root = tmp_path / "baselines"
    assert cli.main(["baseline", str(run), "--baseline-dir", str(root)]) == 2
    assert "--allow-dirty" in capsys.readouterr().err and not root.exists()
    assert cli.main(["baseline", str(run), "--baseline-dir", str(root), "--allow-dirty"]) == 0
    kept = load_summary(root / "spawned-quick")
    env = kept.environment
    assert (env.git_commit, env.git_dirty, env.cpu_count, env.cpu_model) == (
        "0123abcd",
        True,
        2,
        "Xeon",
    )
    assert env.memory_total_bytes == 24 * 2**30 and env.grpcio == "1.7"
