"""Verdict logic on synthetic series that must pass and must fail."""

from __future__ import annotations

import random

import pytest

from bench import verdicts
from bench.verdicts import Tolerances

MiB = 1024 * 1024
TOL = Tolerances()


def test_least_squares_slope_exact_line() -> None:
    xs = [0, 1, 2, 3, 4]
    assert verdicts.least_squares_slope(xs, [3 + 2 * x for x in xs]) == pytest.approx(2.0)
    assert verdicts.least_squares_slope([1, 1], [0, 5]) == 0.0


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


def test_leak_slope_flat_noisy_rss_passes() -> None:
    rng = random.Random(1)
    xs = list(range(0, 2000, 10))
    ys = [80 * MiB + rng.randint(-200_000, 200_000) for _ in xs]
    v = verdicts.leak_slope("plugin", xs, ys, TOL)
    assert v.passed, v.summary
    assert abs(v.figures["slope_bytes_per_request"]) < TOL.leak_slope_bytes_per_request


def test_leak_slope_growing_rss_fails() -> None:
    xs = list(range(0, 2000, 10))
    ys = [80 * MiB + 4096 * x for x in xs]  # 4 KiB per request
    v = verdicts.leak_slope("host", xs, ys, TOL)
    assert not v.passed
    assert v.figures["slope_bytes_per_request"] == pytest.approx(4096)


def test_leak_slope_ignores_warmup_growth() -> None:
    xs = list(range(0, 1000, 5))
    ys = [50 * MiB + min(x, 100) * 100_000 for x in xs]  # grows only during warm-up (x < 200)
    assert verdicts.leak_slope("plugin", xs, ys, TOL).passed


def test_leak_slope_with_too_few_samples_cannot_pass() -> None:
    v = verdicts.leak_slope("plugin", [0, 100], [1.0, 1.0], TOL)
    assert not v.passed and "too few" in v.summary


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
    verdict = verdicts.container_memory("plugin/c1MiB", {"service": "plugin", **figures})
    assert verdict.name == "container-memory/plugin/c1MiB"
    assert verdict.passed is passed
