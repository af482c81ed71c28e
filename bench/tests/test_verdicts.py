"""Verdict logic on synthetic series that must pass and must fail."""

from __future__ import annotations

import random

import pytest

from bench.judge import verdicts
from bench.judge.verdicts import Tolerances
from bench.results.containers import ContainerFigures

MiB = 1024 * 1024
TOL = Tolerances()


def test_bounded_memory_passes_when_growth_is_size_independent() -> None:
    v = verdicts.bounded_memory("plugin", "download", 16 * MiB, 3 * MiB, 1024 * MiB, 5 * MiB, TOL)
    assert v.passed, v.summary
    assert v.figures["difference_bytes"] == 2 * MiB


def test_bounded_memory_fails_when_growth_follows_body_size() -> None:
    # A buffering host: growth ~ body size.
    v = verdicts.bounded_memory("host", "download", 16 * MiB, 16 * MiB, 256 * MiB, 260 * MiB, TOL)
    assert not v.passed
    assert "host" in v.summary and "256.0 MiB" in v.summary


def test_bounded_memory_fails_when_far_below_is_violated_even_if_independent() -> None:
    # Same growth at both sizes but a third of the large body: not "far below".
    v = verdicts.bounded_memory("plugin", "upload", 16 * MiB, 30 * MiB, 64 * MiB, 30 * MiB, TOL)
    assert not v.passed


ROUND = 1000  # requests per round in these synthetic soaks
HEAP_LIMIT = TOL.leak_heap_bytes_per_request


def cumulative(start: float, deltas: list[float]) -> list[float]:
    readings = [start]
    for d in deltas:
        readings.append(readings[-1] + d)
    return readings


def heap_verdict(readings: list[float]) -> verdicts.Verdict:
    return verdicts.leak_rounds(
        "host.heap_live_bytes", readings, ROUND, HEAP_LIMIT, TOL.leak_min_rounds
    )


def test_monotone_growth_of_256_bytes_per_request_is_a_leak() -> None:
    v = heap_verdict(cumulative(8 * MiB, [256 * ROUND] * 5))
    assert not v.passed
    assert v.name == "leak/host.heap_live_bytes"
    assert v.figures["growth_per_request"] == pytest.approx(256)
    assert v.figures["every_round_grew"]
    assert "a leak" in v.summary


def test_noisy_leak_that_grows_every_round_is_caught() -> None:
    rng = random.Random(3)
    deltas = [256 * ROUND + rng.randint(-100_000, 100_000) for _ in range(5)]
    assert not heap_verdict(cumulative(8 * MiB, deltas)).passed


def test_warm_up_then_flat_is_clean() -> None:
    # Warm-up growth ends in the first measured round; then nothing.
    v = heap_verdict(cumulative(8 * MiB, [2 * MiB, 0, 0, 0, 0]))
    assert v.passed, v.summary


def test_warm_up_tail_that_still_grows_every_round_is_clean_under_the_limit() -> None:
    # Caches still filling slowly: every round grows, but by a few bytes per request.
    v = heap_verdict(cumulative(8 * MiB, [9000, 4000, 2500, 1200, 600]))
    assert v.passed, v.summary
    assert v.figures["every_round_grew"]


def test_noisy_flat_is_clean() -> None:
    # Noise up to +-50 KB per round of 1000 (a clean host measured +-20 KB): whatever the
    # signs, never a leak, even when by chance every round comes out positive.
    rng = random.Random(1)
    for _ in range(500):
        deltas = [rng.randint(-50_000, 50_000) for _ in range(5)]
        assert heap_verdict(cumulative(8 * MiB, deltas)).passed, deltas
    assert heap_verdict(cumulative(8 * MiB, [50_000, 1, 40_000, 3, 2])).passed


def test_one_spike_is_clean() -> None:
    v = heap_verdict(cumulative(8 * MiB, [0, 0, 4 * MiB, 0, 0]))
    assert v.passed, v.summary
    # ... and a spike that goes away again
    assert heap_verdict(cumulative(8 * MiB, [0, 256 * 1024, -256 * 1024, 0, 16])).passed


def test_growth_in_all_but_one_round_is_not_a_leak() -> None:
    # The CPython rule: only growth in EVERY round counts (one flat round clears it).
    assert heap_verdict(cumulative(8 * MiB, [300_000, 300_000, 0, 300_000, 300_000])).passed


def test_too_few_rounds_cannot_pass() -> None:
    v = heap_verdict([8 * MiB, 8 * MiB])
    assert not v.passed
    assert "needed to decide" in v.summary


def test_python_blocks_one_per_request_is_a_leak_and_drift_is_not() -> None:
    limit = TOL.leak_objects_per_request
    leak = verdicts.leak_rounds(
        "plugin.allocated_blocks",
        cumulative(90_000, [1010, 1003, 1001, 1000, 1002]),
        ROUND,
        limit,
        3,
    )
    assert not leak.passed
    drift = verdicts.leak_rounds(
        "plugin.allocated_blocks", cumulative(90_000, [36, 12, 7, 2, 10]), ROUND, limit, 3
    )
    assert drift.passed, drift.summary


def test_handles_leak_one_per_round_is_caught_only_above_its_limit() -> None:
    limit = TOL.leak_handles_per_request
    one_per_request = cumulative(14, [ROUND] * 5)
    assert not verdicts.leak_rounds("host.goroutines", one_per_request, ROUND, limit, 3).passed
    # A goroutine that lingers a moment after its connection closed: not every round.
    lingering = [14, 15, 14, 16, 14, 14]
    assert verdicts.leak_rounds("host.goroutines", lingering, ROUND, limit, 3).passed


def test_soak_leak_verdicts_name_every_counter_and_rss() -> None:
    readings = [
        {
            "host.heap_live_bytes": 4e6 + i * 1000,
            "plugin.allocated_blocks": 9e4,
            "host.rss_bytes": 2e7,
        }
        for i in range(6)
    ]
    by_name = {v.name: v for v in verdicts.soak_leak_verdicts(readings, ROUND, TOL)}
    assert set(by_name) == {
        "leak/host.heap_live_bytes",
        "leak/plugin.allocated_blocks",
        "leak-rss/host",
    }
    assert all(v.passed for v in by_name.values())


def test_soak_leak_verdicts_fail_a_counter_missing_from_a_reading() -> None:
    readings = [
        {"plugin.gc_objects": 5000.0},
        {},
        {"plugin.gc_objects": 5000.0},
        {"plugin.gc_objects": 5000.0},
    ]
    (verdict,) = verdicts.soak_leak_verdicts(readings, ROUND, TOL)
    assert verdict.name == "leak/plugin.gc_objects" and not verdict.passed


def test_rss_cross_check_bounds_growth_not_slope() -> None:
    # Megabytes of allocator and GC-timing noise pass ...
    assert verdicts.leak_rss("host", [17 * MiB, 26 * MiB, 19 * MiB], TOL).passed
    # ... growth past the generous bound does not.
    assert not verdicts.leak_rss("plugin", [50 * MiB, 70 * MiB, 90 * MiB], TOL).passed
    assert not verdicts.leak_rss("plugin", [50 * MiB], TOL).passed


def test_counters_that_do_not_return_fail() -> None:
    before = {"host.goroutines": 10, "plugin.active_handlers": 0, "plugin.asyncio_tasks": 5}
    after = {"host.goroutines": 60, "plugin.active_handlers": 2, "plugin.asyncio_tasks": 5}
    by_name = {v.figures["counter"]: v for v in verdicts.counters_return(before, after, TOL)}
    assert not by_name["host.goroutines"].passed
    assert not by_name["plugin.active_handlers"].passed
    assert by_name["plugin.asyncio_tasks"].passed


def test_counters_back_to_baseline_pass() -> None:
    before = {"host.goroutines": 10, "plugin.open_fds": 20, "plugin.threads": 8}
    after = {"host.goroutines": 12, "plugin.open_fds": 20, "plugin.threads": 8}
    assert all(v.passed for v in verdicts.counters_return(before, after, TOL))


def test_backpressure() -> None:
    held = verdicts.backpressure(1 * MiB, 4 * MiB, 12 * MiB, 512 * MiB, TOL)
    assert held.passed, held.summary
    runaway = verdicts.backpressure(1 * MiB, 400 * MiB, 12 * MiB, 512 * MiB, TOL)
    assert not runaway.passed
    assert not verdicts.backpressure(None, None, 0, 1, TOL).passed


def test_abort_cleanup() -> None:
    assert verdicts.abort_cleanup(5, 10, 15, 0, 0).passed
    assert not verdicts.abort_cleanup(5, 10, 12, 0, 0).passed  # not all cancelled
    assert not verdicts.abort_cleanup(5, 10, 15, 1, 0).passed  # a handler still active
    assert not verdicts.abort_cleanup(5, None, None, None, None).passed


@pytest.mark.parametrize(
    ("figures", "passed"),
    [
        ({"limit_bytes": 128 * MiB, "peak_bytes": 40 * MiB}, True),
        ({"limit_bytes": 128 * MiB, "peak_bytes": 40 * MiB, "oom_killed": True}, False),
        ({"limit_bytes": 128 * MiB, "peak_bytes": 40 * MiB, "restart_count": 1}, False),
        ({"limit_bytes": 128 * MiB, "peak_bytes": 128 * MiB}, False),
    ],
)
def test_container_memory_fails_on_oom_restart_or_cap(figures: dict, passed: bool) -> None:
    verdict = verdicts.container_memory(
        "plugin/c1MiB", ContainerFigures.from_json({"service": "plugin", **figures})
    )
    assert verdict.name == "container-memory/plugin/c1MiB"
    assert verdict.passed is passed
