"""A/B rounds: variants parsed, every target once per round, the figures of a round."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import AB_TARGETS
from bench.core.paths import REPO_ROOT
from bench.core.profiles import PROFILES
from bench.core.targets import Target
from bench.observe.samplers import Sampler
from bench.results.run import LatencyMs, ScenarioRow
from bench.runner.engine import Engine
from bench.runner.rounds import ab_round, alternate, kept_targets
from bench.runner.services import Variant
from bench.scenarios import SCENARIOS
from bench.scenarios.latency import Small
from bench.tests.conftest import FakeHost


def test_a_variant_is_a_tree_and_its_environment(tmp_path: Path) -> None:
    v = Variant.parse(f"old={REPO_ROOT};BENCH_PLUGIN_PYTHON=/opt/py/bin/python;GOMAXPROCS=1")
    assert v.name == "old" and v.tree == REPO_ROOT
    assert v.env == {"BENCH_PLUGIN_PYTHON": "/opt/py/bin/python", "GOMAXPROCS": "1"}
    assert Variant.parse("env=;PLUGIN_LOOP=asyncio").tree is None
    with pytest.raises(ValueError, match="NAME=TREE"):
        Variant.parse("no-equals")
    with pytest.raises(ValueError, match="no plugin_runtime"):
        Variant.parse(f"x={tmp_path}")
    with pytest.raises(ValueError, match="not ENV=VALUE"):
        Variant.parse(f"x={REPO_ROOT};JUNK")


def test_every_target_once_per_round_in_turn(fake_host: FakeHost) -> None:
    seen: list[tuple[int, str]] = []
    targets = {name: Target(name, fake_host.url, download_path="/chunked") for name in ("a", "b")}
    with Sampler(include_loadgen=False) as sampler:
        rows = alternate(
            Engine(sampler),
            targets,
            lambda t: Small(t, 65536, size=1000, requests=1),
            3,
            lambda i, name, _row: seen.append((i, name)),
        )
    assert seen == [(0, "a"), (0, "b"), (1, "a"), (1, "b"), (2, "a"), (2, "b")]
    assert [len(r) for r in rows.values()] == [3, 3] and all(r.ok for r in rows["a"])


def test_the_figures_of_one_round() -> None:
    cpu = {"old:host": 220.0, "old:plugin": 430.0}  # a variant's processes, prefixed
    extra = {"requests_per_s": 2000.0, "errors": 0, "cpu_us_per_request": cpu}
    rps = ScenarioRow(
        "rps/old/1KiB/x32/c1MiB", "rps", "old", latency_ms=LatencyMs(3.0, 9.0), extra=extra
    )
    r = ab_round(rps)
    assert (r.value, r.p99_ms, r.cpu) == (2000.0, 9.0, {"host": 220.0, "plugin": 430.0})
    failed = ScenarioRow("download/x/c1MiB", "download", "bridge", ok=False, throughput_mb_s=5.0)
    assert (ab_round(failed).value, ab_round(failed).errors) == (0.0, 1)


def test_bridge_in_targets_keeps_every_variants_bridge() -> None:
    old = Variant("old", REPO_ROOT)
    new = Variant("new", REPO_ROOT)
    assert kept_targets(["bridge"], [old, new]) == {"bridge", "old", "new"}
    assert kept_targets(["bridge", "python-direct"], []) == {"bridge", "python-direct"}
    # Without the bridge, no variant is kept: only the peers asked for.
    assert kept_targets(["go-direct"], [old]) == {"go-direct"}


@pytest.mark.parametrize("kind", ["rps", "download", "upload", "file"])
def test_rounds_default_to_the_targets_a_run_sends_that_kind_to(kind: str) -> None:
    # The gRPC floor answers downloads and files only: a small-request or upload round
    # against it could only fail.
    planned = {s.target for s in SCENARIOS[kind].plan(PROFILES["quick"], 1024 * 1024)}
    assert set(AB_TARGETS[kind]) == planned
    assert ("grpc-floor" in planned) == (kind in ("download", "file"))
