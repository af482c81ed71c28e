"""Samplers against a tiny local server with a fake /debug/stats, and psutil on this process."""

from __future__ import annotations

import os

import pytest

from bench.core.polling import wait_until
from bench.observe.samplers import (
    LOADGEN,
    Sampler,
    StatsClient,
    flatten_stats,
    process_reading,
    window_growth,
)

MiB = 1024 * 1024
DEADLINE_S = 30.0  # bounds only a failure: generous for a busy machine


def test_flatten_stats_keeps_numbers_and_skips_unreachable_plugin() -> None:
    flat = flatten_stats(
        {"host": {"rss_bytes": 5, "goroutines": 7, "ok": True}, "plugin": {"error": "down"}}
    )
    assert flat == {"host.rss_bytes": 5.0, "host.goroutines": 7.0}


def test_process_reading_of_this_process() -> None:
    import psutil

    values = process_reading(psutil.Process(os.getpid()), with_uss=True)
    assert values["rss_bytes"] > 1 * MiB
    assert values["threads"] >= 1
    assert "open_fds" in values
    # CPU seconds count up: burn some and read again.
    sum(i * i for i in range(300_000))
    later = process_reading(psutil.Process(os.getpid()))
    assert later["cpu_seconds"] > values["cpu_seconds"] > 0


def test_stats_client_reads_fake_host(fake_host) -> None:
    client = StatsClient(f"{fake_host.url}/debug/stats")
    assert client.fetch()["plugin"]["handlers_cancelled"] == 3
    client.close()


def test_stats_client_error_names_url() -> None:
    client = StatsClient("http://127.0.0.1:9/debug/stats", timeout=0.5)
    with pytest.raises(OSError, match=r"127\.0\.0\.1:9/debug/stats"):
        client.fetch()


def test_sampler_time_series_from_stats_and_psutil(fake_host) -> None:
    with Sampler(
        processes={"me": os.getpid()},
        stats_url=f"{fake_host.url}/debug/stats",
        interval_s=0.02,
        stats_interval_s=0.02,
    ) as sampler:
        window = sampler.mark("grow")
        fake_host.stats["plugin"]["rss_bytes"] += 10 * MiB
        ballast = bytearray(32 * MiB)  # touch real memory so our RSS grows
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1
        # The background thread samples on its own: wait until it has seen the
        # grown figure several times.
        wait_until(
            lambda: (
                sum(v == 50 * MiB for _, v in sampler.timeline.series("stats", "plugin.rss_bytes"))
                >= 3
            ),
            DEADLINE_S,
        )
        fake_host.stats["plugin"]["rss_bytes"] -= 10 * MiB
        sampler.close(window)
        del ballast
    timeline = sampler.timeline
    assert set(timeline.sources()) >= {"me", LOADGEN, "stats"}
    assert len(timeline.series("stats", "plugin.rss_bytes")) >= 5
    growth, peak, count = window_growth(timeline, "stats", "plugin.rss_bytes", window)
    assert growth == 10 * MiB and peak == 50 * MiB and count >= 3
    me_growth, _, _ = window_growth(timeline, "me", "rss_bytes", window)
    assert me_growth >= 24 * MiB
    assert not timeline.errors


def test_sampler_records_errors_without_dying() -> None:
    with Sampler(
        stats_url="http://127.0.0.1:9/debug/stats", interval_s=0.02, stats_interval_s=0.02
    ) as sampler:
        # The thread goes on after a failed fetch: more errors, and psutil readings.
        wait_until(lambda: len(sampler.timeline.errors) >= 3, DEADLINE_S)
        wait_until(lambda: len(sampler.timeline.series(LOADGEN, "rss_bytes")) >= 3, DEADLINE_S)
    assert all("127.0.0.1:9/debug/stats" in e for e in sampler.timeline.errors)


def test_sampler_reads_container_figures() -> None:
    class Figure:
        samples = 1
        last_bytes = 7 * MiB

    from bench.observe.samplers import container_figures_reader

    with Sampler(container_reader=container_figures_reader({"plugin": Figure()})) as sampler:
        pass
    points = sampler.timeline.series("container:plugin", "working_set_bytes")
    assert points and points[0][1] == 7 * MiB
