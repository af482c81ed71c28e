"""What a run says about itself: one progress line per scenario off a terminal,
the commit and the host's Go version in its environment line."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.core.targets import BRIDGE, Target
from bench.report import environment, markdown
from bench.report.environment import tree_dirty
from bench.report.progress import ScenarioLog, key_figure, progress_line
from bench.results.environment import Environment
from bench.results.run import RunSummary
from bench.scenarios import SCENARIOS
from bench.scenarios.base import ScenarioResult

MiB = 1024 * 1024
BASELINES = Path(__file__).resolve().parents[2] / "results" / "baseline"


def result(kind: str, **fields: Any) -> ScenarioResult:
    scenario = SCENARIOS[kind](BRIDGE, 65536, size=16 * MiB if kind == "download" else 0)
    return ScenarioResult(scenario, Target(BRIDGE, "http://x"), **fields)


@pytest.mark.parametrize(
    ("res", "figure"),
    [
        (result("download", throughput_mb_s=1110.4), "1110 MB/s"),
        (
            result("small", latencies_s=[0.001] * 99 + [0.004], extra={"requests_per_s": 950.0}),
            "950 req/s, p99 1.0 ms",
        ),
        (result("sse", latencies_s=[0.002, 0.003]), "p50 2.0 ms, p99 3.0 ms"),
        (result("abort"), "ok"),
        (result("download", ok=False, error="TransferError: truncated"), "FAILED: TransferError"),
    ],
)
def test_key_figure_per_kind_of_scenario(res: ScenarioResult, figure: str) -> None:
    assert key_figure(res).startswith(figure)


def test_progress_line_names_scenario_figure_and_elapsed() -> None:
    res = result("download", throughput_mb_s=900.0, seconds=2.25)
    line = progress_line(3, 12, res, 71.4)
    assert line == "[ 3/12] download/bridge/16MiB/c64KiB: 900 MB/s (2.25 s; 71 s into the run)"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_only_when_stdout_is_not_a_terminal() -> None:
    piped, terminal = io.StringIO(), FakeTerminal()
    res = result("download", throughput_mb_s=500.0, seconds=1.0)
    for out in (piped, terminal):
        log = ScenarioLog(out)
        log.finished(1, 2, res)
        log.finished(2, 2, res)
    assert piped.getvalue().count("\n") == 2 and "[1/2] download/bridge" in piped.getvalue()
    assert terminal.getvalue() == ""  # tqdm's bar shows progress there


def test_environment_takes_the_commit_from_streambench_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMBENCH_COMMIT", "0123456789abcdef0123456789abcdef01234567")
    env = environment.environment([65536], "external")
    assert env.git_commit == "0123456789abcdef0123456789abcdef01234567"


def test_host_build_reads_the_go_version_from_debug_stats(fake_host: Any) -> None:
    stats_url = f"{fake_host.url}/debug/stats"

    def recorded(url: str | None) -> str | None:
        env = Environment()
        environment.record_services(env, url)
        return env.host_go_version

    assert recorded(stats_url) is None  # an older host: no go_version key
    fake_host.stats["host"]["go_version"] = "go1.26.8"
    assert recorded(stats_url) == "go1.26.8"
    assert recorded("http://127.0.0.1:9/debug/stats") is None  # nothing listening
    assert recorded(None) is None


def test_settings_given_and_reported_are_recorded(fake_host: Any) -> None:
    """What the processes ran with: knobs in the environment, limits the host reports."""
    given = environment.given_settings(
        {
            "HOSTSTUB_BUDGET_BYTES": "1048576",
            "PLUGIN_LOOP": "asyncio",
            "HOME": "/root",
            "GOMAXPROCS": "1",
            "BENCH_PROFILE": "quick",
        }
    )
    assert given == {
        "GOMAXPROCS": "1",
        "HOSTSTUB_BUDGET_BYTES": "1048576",
        "PLUGIN_LOOP": "asyncio",
    }
    fake_host.stats["host"]["budget_bytes"] = 37748736
    fake_host.stats["plugin"]["max_chunk_bytes"] = 1048576
    env = Environment()
    environment.record_services(env, f"{fake_host.url}/debug/stats")
    assert env.settings == {"host.budget_bytes": "37748736", "plugin.max_chunk_bytes": "1048576"}


def test_environment_line_says_commit_and_host_go() -> None:
    """A compose run (no `go`, no .git in the bench container) used to say
    `go ?, commit None`."""
    summary = json.loads((BASELINES / "external-full" / "summary.json").read_text())
    summary["environment"].update(
        go=None, host_go_version="go1.26.8", git_commit="0123456789abcdef0123"
    )
    text = markdown.summary_markdown(RunSummary.from_json(summary))
    assert "host built with go1.26.8, commit 0123456789ab," in text
    assert "go ?" not in text and "commit None" not in text


def test_the_environment_records_the_machine_versions_and_commit(tmp_path: Path) -> None:
    env = environment.environment([65536], "spawned")
    assert env.cpu_count and env.memory_total_bytes and env.python and env.grpcio
    assert env.git_commit and isinstance(env.git_dirty, bool)  # this repository
    assert env.chunk_sizes == [65536] and isinstance(env.settings, dict)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n")
    assert environment.cpu_model(cpuinfo) == "Intel(R) Xeon(R) Processor"
    line = Environment(cpu_count=2, cpu_model="Intel(R) Xeon(R) Processor").line()
    assert line.startswith("2 CPUs (Intel(R) Xeon(R) Processor), Python")


def test_a_tree_is_dirty_for_code_changes_not_for_results(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "bench@example.invalid")
    git("config", "user.name", "bench")
    (tmp_path / "results" / "baseline").mkdir(parents=True)
    (tmp_path / "results" / "baseline" / "summary.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("commit", "-qm", "start")
    assert tree_dirty(tmp_path) is False
    (tmp_path / "results" / "baseline" / "summary.json").write_text('{"new": 1}')
    assert tree_dirty(tmp_path) is False  # a baseline recorded since
    (tmp_path / "code.py").write_text("x = 2\n")
    assert tree_dirty(tmp_path) is True
    assert tree_dirty(tmp_path / "no-such-folder") is None
