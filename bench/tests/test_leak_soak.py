"""The leak soak against real processes: planted leaks are caught, a clean stack is green.

Planted leaks (256 bytes per request, the smallest the soak must catch):
- plugin: plugin_runtime.examples.leaky:app (the demo app keeping 256 bytes per request);
- host: a hoststub built with `-tags leakplant` (host/internal/stats/leakplant.go).
Each soak leaks on one side only, so the other side's verdicts must stay green.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.core.targets import BRIDGE, Target
from bench.judge.assess import reading_verdicts
from bench.judge.verdicts import Tolerances
from bench.observe.samplers import Sampler
from bench.runner import stack as stack_mod
from bench.runner.engine import Engine
from bench.scenarios.base import ScenarioResult
from bench.scenarios.soak import Soak

pytestmark = pytest.mark.e2e

LEAKY_APP = "plugin_runtime.examples.leaky:app"
CHUNK = 64 * 1024
ROUND_REQUESTS = 240
WARMUP_ROUNDS = 3
ROUNDS = 3


@pytest.fixture(scope="module")
def leakplant_hoststub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed: cannot build the leakplant hoststub")
    binary = tmp_path_factory.mktemp("leakplant") / "hoststub-leakplant"
    subprocess.run(
        [go, "build", "-tags", "leakplant", "-o", str(binary), "./cmd/hoststub"],
        cwd=stack_mod.REPO_ROOT / "host",
        check=True,
    )
    return binary


def run_soak(app: str, tmp_path: Path) -> dict[str, bool]:
    """One short soak against a fresh stack; verdict name -> passed."""
    with stack_mod.run_stack(app=app, log_dir=tmp_path) as running:
        processes = {"host": running.host.pid, "plugin": running.plugin.pid}
        with Sampler(processes, running.stats_url) as sampler:
            scenario = Soak(
                target=BRIDGE,
                chunk=CHUNK,
                concurrency=4,
                requests=ROUND_REQUESTS * (WARMUP_ROUNDS + ROUNDS),
                round_requests=ROUND_REQUESTS,
                warmup_rounds=WARMUP_ROUNDS,
                rounds=ROUNDS,
            )
            result: ScenarioResult = Engine(sampler).run(
                scenario, Target(BRIDGE, running.plugin_url, processes)
            )
    assert result.ok, result.error
    # The soak records its readings; the judge decides on them, as in a run.
    verdicts = reading_verdicts(result, Tolerances())
    by_name = {v.name: v for v in verdicts}
    assert by_name["soak-outcomes"].passed, by_name["soak-outcomes"].summary
    for verdict in verdicts:
        print(verdict.name, "pass" if verdict.passed else "FAIL", verdict.summary)
    return {name: v.passed for name, v in by_name.items()}


HOST_HEAP = ("leak/host.heap_live_bytes", "leak/host.heap_objects")
PLUGIN_HEAP = ("leak/plugin.allocated_blocks",)


def test_clean_soak_is_green(tmp_path: Path) -> None:
    passed = run_soak(stack_mod.DEMO_APP, tmp_path)
    for name in (*HOST_HEAP, *PLUGIN_HEAP, "leak-rss/host", "leak-rss/plugin"):
        assert name in passed, f"{name} missing from {sorted(passed)}"
    failed = sorted(name for name, ok in passed.items() if not ok)
    assert not failed


def test_planted_plugin_leak_is_caught(tmp_path: Path) -> None:
    passed = run_soak(LEAKY_APP, tmp_path)
    assert not passed["leak/plugin.allocated_blocks"]
    assert all(passed[name] for name in HOST_HEAP)


def test_planted_host_leak_is_caught(
    tmp_path: Path, leakplant_hoststub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack_mod, "HOSTSTUB_BIN", leakplant_hoststub)
    passed = run_soak(stack_mod.DEMO_APP, tmp_path)
    assert not passed["leak/host.heap_live_bytes"]
    assert all(passed[name] for name in PLUGIN_HEAP)
