"""bench.observe.container_memory: parsing of Docker's memory stats (cgroup v1 and v2) and the
sampler's peak/OOM bookkeeping, with fakes in place of the engine."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from bench.core.polling import wait_until
from bench.judge.verdicts import container_memory
from bench.observe.container_memory import (
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    ContainerMemory,
    ContainerMemorySampler,
    DockerEnvError,
    find_service_containers,
    parse_mem_limit,
    parse_memory_stats,
)
from bench.observe.samplers import Timeline
from bench.report.summary import build_summary, write_summary
from bench.results import load_summary
from bench.results.containers import ContainerFigures
from bench.results.environment import Environment

MiB = 1024 * 1024

# Trimmed from a real `container.stats(stream=False)` on Docker 20.10, cgroup v1.
V1_STATS: dict[str, Any] = {
    "name": "/streambench-plugin-1",
    "memory_stats": {
        "usage": 90 * MiB,
        "max_usage": 110 * MiB,
        "limit": 128 * MiB,
        "stats": {
            "cache": 30 * MiB,
            "inactive_file": 5 * MiB,  # this cgroup alone; the total_ key wins
            "total_inactive_file": 20 * MiB,
            "total_rss": 60 * MiB,
            "hierarchical_memory_limit": 128 * MiB,
        },
    },
}

# The shape Docker returns on a cgroup v2 host: flat keys, no max_usage.
V2_STATS: dict[str, Any] = {
    "name": "/streambench-host-1",
    "memory_stats": {
        "usage": 50 * MiB,
        "limit": 128 * MiB,
        "stats": {"anon": 30 * MiB, "file": 18 * MiB, "inactive_file": 12 * MiB},
    },
}


def test_v1_working_set_subtracts_total_inactive_file_and_keeps_kernel_peak() -> None:
    sample = parse_memory_stats(V1_STATS)
    assert sample.cgroup == "v1"
    assert sample.usage_bytes == 90 * MiB
    assert sample.working_set_bytes == 70 * MiB
    assert sample.limit_bytes == 128 * MiB
    assert sample.max_usage_bytes == 110 * MiB


def test_v2_working_set_subtracts_inactive_file_and_has_no_kernel_peak() -> None:
    sample = parse_memory_stats(V2_STATS)
    assert sample.cgroup == "v2"
    assert sample.working_set_bytes == 38 * MiB
    assert sample.limit_bytes == 128 * MiB
    assert sample.max_usage_bytes is None


def test_inactive_file_larger_than_usage_never_gives_a_negative_working_set() -> None:
    stats = {"memory_stats": {"usage": 10, "limit": 100, "stats": {"inactive_file": 50}}}
    assert parse_memory_stats(stats).working_set_bytes == 10


@pytest.mark.parametrize("stats", [{}, {"memory_stats": {}}, {"memory_stats": {"usage": 1}}])
def test_stopped_container_stats_are_a_clear_error(stats: dict[str, Any]) -> None:
    with pytest.raises(DockerEnvError, match="no memory reading"):
        parse_memory_stats(stats)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("128m", 128 * MiB),
        ("1g", 1024 * MiB),
        ("512k", 512 * 1024),
        ("64MB", 64 * MiB),
        ("134217728", 134217728),
        (4096, 4096),
        ("1.5g", 1536 * MiB),
    ],
)
def test_parse_mem_limit(text: str | int, expected: int) -> None:
    assert parse_mem_limit(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "12x", "-1m"])
def test_parse_mem_limit_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="memory size"):
        parse_mem_limit(text)


class FakeContainer:
    """Replays a list of stats dicts; then reports a final state like the engine."""

    def __init__(self, name: str, stats: list[dict[str, Any]], state: dict[str, Any]) -> None:
        self.name = name
        self._stats = list(stats)
        self._state = state
        self.attrs: dict[str, Any] = {}

    def stats(self, *, stream: bool, one_shot: bool) -> dict[str, Any]:
        assert stream is False and one_shot is True
        return self._stats.pop(0) if self._stats else {"memory_stats": {}}

    def reload(self) -> None:
        self.attrs = self._state


def v2(usage_mib: int) -> dict[str, Any]:
    return {"memory_stats": {"usage": usage_mib * MiB, "limit": 128 * MiB, "stats": {}}}


def test_sampler_tracks_the_peak_on_v2_and_reads_final_state() -> None:
    running = {"State": {"Running": True, "OOMKilled": False}, "RestartCount": 0}
    host = FakeContainer("host-1", [v2(20), v2(60), v2(40)], running)
    sampler = ContainerMemorySampler({"host": host})
    sampler.sample_once()
    sampler.sample_once()
    figures = sampler.stop()  # takes the last reading (40) too
    host_fig = figures["host"]
    assert (host_fig.samples, host_fig.peak_bytes, host_fig.last_bytes) == (3, 60 * MiB, 40 * MiB)
    assert host_fig.held()
    report = sampler.report()["host"]
    assert report["peak_bytes"] == 60 * MiB
    assert report["limit_bytes"] == 128 * MiB
    assert report["oom_killed"] is False
    assert report["max_usage_bytes"] is None


def test_sampler_reports_an_oom_killed_container_as_not_within_limit() -> None:
    killed = {"State": {"Running": False, "OOMKilled": True, "ExitCode": 137}, "RestartCount": 0}
    plugin = FakeContainer("plugin-1", [v2(100)], killed)  # then stats go empty: it died
    sampler = ContainerMemorySampler({"plugin": plugin}).start()
    figures = sampler.stop()
    fig = figures["plugin"]
    assert fig.oom_killed and not fig.running and fig.exit_code == 137
    assert not fig.held()


def test_exit_137_counts_as_oom_even_when_the_flag_was_reset_by_a_restart() -> None:
    fig = ContainerMemory(service="host", container="host-1")
    fig.observe_state({"State": {"Running": False, "OOMKilled": False, "ExitCode": 137}})
    assert fig.oom_killed


def test_v1_kernel_peak_is_kept_across_samples() -> None:
    fig = ContainerMemory(service="plugin", container="p")
    fig.observe(parse_memory_stats(V1_STATS))
    lower = {"memory_stats": {**V1_STATS["memory_stats"], "max_usage": 100 * MiB}}
    fig.observe(parse_memory_stats(lower))
    assert fig.max_usage_bytes == 110 * MiB
    assert fig.peak_bytes == 70 * MiB


def test_find_service_containers_filters_by_compose_labels() -> None:
    seen: dict[str, Any] = {}

    class Containers:
        def list(self, **kwargs: Any) -> list[str]:
            seen.update(kwargs)
            return ["c1"]

    class Client:
        containers = Containers()

    assert find_service_containers(Client(), "plugin", "proj") == ["c1"]
    assert seen["all"] is True
    assert seen["filters"]["label"] == [
        f"{COMPOSE_PROJECT_LABEL}=proj",
        f"{COMPOSE_SERVICE_LABEL}=plugin",
    ]


@pytest.mark.parametrize(
    ("peak_mib", "limit_mib", "oom_killed", "restarts", "held"),
    [
        (40, 128, False, 0, True),
        (128, 128, False, 0, False),  # at the cap is not under it
        (40, 128, True, 0, False),
        (40, 128, False, 1, False),
        (40, 0, False, 0, True),  # no cap read: only survival counts
        (40, 0, True, 0, False),
    ],
)
def test_within_limit_and_the_verdict_apply_one_rule(
    peak_mib: int, limit_mib: int, oom_killed: bool, restarts: int, held: bool
) -> None:
    fig = ContainerMemory(service="plugin", container="p")
    fig.peak_bytes, fig.limit_bytes = peak_mib * MiB, limit_mib * MiB
    fig.oom_killed, fig.restart_count = oom_killed, restarts
    assert fig.held() is held
    assert container_memory("plugin/c1MiB", fig.record()).passed is held


def test_the_figures_of_a_sampler_reach_json_as_printed_and_as_summary_json(
    tmp_path: Path,
) -> None:
    """What a compose test prints (json.dumps of the sampler's report) and what a run
    writes (its containers in summary.json) are JSON, and read back as the records."""
    running = {"State": {"Running": True, "OOMKilled": False}, "RestartCount": 0}
    sampler = ContainerMemorySampler({"host": FakeContainer("host-1", [v2(20), v2(60)], running)})
    sampler.sample_once()
    sampler.stop()
    printed = json.loads(json.dumps(sampler.report()))
    assert printed["host"]["peak_bytes"] == 60 * MiB and printed["host"]["within_limit"] is True
    records = sampler.records()
    assert isinstance(records["host"], ContainerFigures)
    assert ContainerFigures.from_json(printed["host"]) == records["host"]
    summary = build_summary(
        profile="smoke",
        environment=Environment(),
        results=[],
        timeline=Timeline(),
        verdicts=[],
        containers={f"{name}/c1MiB": figures for name, figures in records.items()},
    )
    write_summary(tmp_path, summary)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["containers"]["host/c1MiB"]["peak_bytes"] == 60 * MiB
    assert load_summary(tmp_path).containers["host/c1MiB"] == records["host"]


class BlockingContainer(FakeContainer):
    """Answers a stats request only when released: an engine still collecting."""

    def __init__(self) -> None:
        super().__init__("slow-1", [], {"State": {"Running": True}})
        self.release = threading.Event()

    def stats(self, *, stream: bool, one_shot: bool) -> dict[str, Any]:
        self.release.wait()
        return v2(10)


class SteadyContainer(FakeContainer):
    """Answers every stats request at once with the same reading."""

    def stats(self, *, stream: bool, one_shot: bool) -> dict[str, Any]:
        return v2(30)


def test_a_slow_container_does_not_hold_back_the_others_readings() -> None:
    slow = BlockingContainer()
    fast = SteadyContainer("fast-1", [], {"State": {"Running": True}})
    sampler = ContainerMemorySampler({"slow": slow, "fast": fast}, interval_s=0.01)
    sampler.start()
    try:
        # While the slow container's first reading is still pending, the fast one
        # keeps being read.
        wait_until(lambda: sampler.figures["fast"].samples >= 3, 30.0, what="fast readings")
        assert sampler.figures["slow"].samples == 0
    finally:
        slow.release.set()
        sampler.stop()
    assert sampler.figures["slow"].samples >= 1


class RestartingContainer(FakeContainer):
    """A running container whose state is read at the start and at the end of a run."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        super().__init__("go-plugin-1", [v2(30)], states[0])
        self._states = states

    def reload(self) -> None:
        self.attrs = self._states.pop(0) if len(self._states) > 1 else self._states[0]


def state(started: str, oom: bool) -> dict[str, Any]:
    return {"State": {"Running": True, "OOMKilled": oom, "StartedAt": started}, "RestartCount": 0}


@pytest.mark.parametrize(
    ("states", "killed"),
    [
        ([state("t0", oom=True), state("t0", oom=True)], False),  # a kill before this run
        ([state("t0", oom=False), state("t1", oom=True)], True),  # killed and restarted in it
        ([state("t0", oom=True), state("t1", oom=True)], True),  # killed again, restarted
        ([state("t0", oom=False), state("t0", oom=False)], False),
    ],
)
def test_an_oom_kill_counts_when_it_happened_during_the_run(
    states: list[dict[str, Any]], killed: bool
) -> None:
    sampler = ContainerMemorySampler({"go-plugin": RestartingContainer(states)}, interval_s=60)
    sampler.start()
    assert sampler.stop()["go-plugin"].oom_killed is killed
