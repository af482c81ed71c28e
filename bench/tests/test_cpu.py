"""CPU per GiB of every transfer, whatever its size: readings at its start and its end,
from the processes' CPU clocks (spawned) or a fresh /debug/stats (running services)."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from bench.core.targets import HOST_SIDES, Target
from bench.observe.cpu import cpu_now, cpu_spent
from bench.observe.samplers import LOADGEN, Sampler, process_cpu_seconds
from bench.report.markdown import summary_markdown
from bench.report.rows import scenario_row
from bench.results.run import CPU_STEADY_BYTES, RunSummary
from bench.runner.engine import Engine
from bench.scenarios.transfer import Download
from bench.tests.conftest import FakeHost

# Burns ~50 ms of CPU, says so, then waits for a line on stdin.
BUSY_CHILD = (
    "import time\n"
    "t = time.process_time()\n"
    "while time.process_time() - t < 0.05: pass\n"
    "print('busy', flush=True)\n"
    "input()\n"
)


@pytest.mark.skipif(sys.platform != "linux", reason="the process CPU clock is Linux's")
def test_a_process_cpu_clock_counts_finer_than_clock_ticks() -> None:
    """A child that burned ~50 ms: its CPU clock has it to the microsecond (psutil's
    cpu_times would count whole 10 ms ticks), and a process that is gone says so."""
    child = subprocess.Popen(
        [sys.executable, "-c", BUSY_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    proc = psutil.Process(child.pid)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"busy\n"
        seconds = process_cpu_seconds(proc)
        assert 0.05 <= seconds < 5.0
        assert round(seconds * 100) != seconds * 100  # not a whole number of ticks
    finally:
        child.communicate(b"\n", timeout=30)
    with pytest.raises(psutil.NoSuchProcess):
        process_cpu_seconds(proc)


def test_a_small_transfer_gets_cpu_per_gib_of_every_process(fake_host: FakeHost) -> None:
    """300 kB, far under what the sampler's ticks could see: the readings at its start and
    end still give each serving process (here the test's own server) and the client a
    figure, and the reports mark it noisy."""
    target = Target("fake", fake_host.url, {"server": os.getpid()}, download_path="/chunked")
    with Sampler(interval_s=0.05) as sampler:
        result = Engine(sampler).run(Download("fake", 65536, size=300_000), target)
    assert result.ok, result.error
    assert set(result.cpu_seconds) == {"server", LOADGEN}
    assert all(seconds > 0 for seconds in result.cpu_seconds.values())
    row = scenario_row(result, sampler.timeline)
    assert set(row.cpu_seconds_per_gib) == {"server", LOADGEN}
    assert row.cpu_seconds_per_gib["server"] == pytest.approx(
        result.cpu_seconds["server"] / (300_000 / 2**30)
    )
    assert row.bytes < CPU_STEADY_BYTES and row.cpu_noisy
    md = summary_markdown(RunSummary("r", scenarios=[row]))
    (line,) = [line for line in md.splitlines() if line.startswith("| download/fake/")]
    assert "server " in line and "(noisy)" in line


def test_running_services_are_read_from_a_fresh_debug_stats(fake_host: FakeHost) -> None:
    target = Target("bridge", fake_host.url, {}, dict(HOST_SIDES))
    fake_host.stats["host"]["cpu_seconds"] = 2.5
    fake_host.stats["plugin"]["cpu_seconds"] = 7.0
    with Sampler(stats_url=f"{fake_host.url}/debug/stats", include_loadgen=False) as sampler:
        before = cpu_now(sampler, target, client=False)
        fake_host.stats["host"]["cpu_seconds"] = 2.75
        fake_host.stats["plugin"]["cpu_seconds"] = -1  # a side that cannot tell is left out
        after = cpu_now(sampler, target, client=False)
    assert before == {"host": 2.5, "plugin": 7.0}
    assert cpu_spent(before, after) == {"host": 0.25}
