"""pytest-benchmark suite for the bridge: throughput per chunk size, small-request latency.

Run it with pytest-benchmark's `--benchmark-only` (the project's pytest options
include `--benchmark-skip`, so `pytest bench` and the whole suite skip it):

    pytest bench/benchmarks --benchmark-only --benchmark-json=out.json

Environment knobs (defaults give a run of about a minute on 2 cores):
  BENCH_PYTEST_SIZE            bytes per transfer (64 MiB)
  BENCH_PYTEST_CHUNKS          comma list of plugin write / upload piece sizes
                               (16384,65536,262144,1048576)
  BENCH_PYTEST_ROUNDS          timed rounds per transfer benchmark (3; one warm-up round extra)
  BENCH_PYTEST_LATENCY_ROUNDS  timed small requests (300)
  BENCH_TARGET_URL             use running services instead of spawning them: the plugin's
                               base URL, e.g. http://host:8065/plugins/bench
  BENCH_STATS_URL              with BENCH_TARGET_URL: the host's /debug/stats (RSS from there)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from bench.observe.samplers import Sampler, window_growth
from bench.runner.stack import run_stack


@dataclass
class BenchTarget:
    """Where the benchmarks send requests and how they read memory."""

    plugin_url: str  # demo routes, e.g. http://127.0.0.1:PORT/plugins/bench
    host_url: str  # the host itself: /direct/* references, /debug/stats
    stats_url: str | None
    pids: dict[str, int] = field(default_factory=dict)  # psutil when we spawned them

    def sampler(self) -> Sampler:
        return Sampler(
            processes=self.pids,
            stats_url=None if self.pids else self.stats_url,
            interval_s=0.05,
            stats_interval_s=0.05,
            include_loadgen=False,
        )


@pytest.fixture(scope="session")
def bench_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchTarget]:
    target_url = os.environ.get("BENCH_TARGET_URL")
    if target_url:
        parts = urlsplit(target_url)
        host_url = f"{parts.scheme}://{parts.netloc}"
        yield BenchTarget(
            target_url.rstrip("/"), host_url, os.environ.get("BENCH_STATS_URL") or None
        )
        return
    with run_stack(log_dir=tmp_path_factory.mktemp("bench-stack")) as stack:
        yield BenchTarget(
            stack.plugin_url,
            stack.host_url,
            stack.stats_url,
            {"host": stack.host.pid, "plugin": stack.plugin.pid},
        )


@contextlib.contextmanager
def peak_rss_growth(target: BenchTarget, into: dict[str, object]) -> Iterator[None]:
    """Record host/plugin peak RSS growth (bytes) over the block into `into` (extra_info)."""
    with target.sampler() as sampler:
        window = sampler.mark("benchmark")
        yield
        sampler.close(window)
    for name in ("host", "plugin"):
        if target.pids:
            growth = window_growth(sampler.timeline, name, "rss_bytes", window)
        else:
            growth = window_growth(sampler.timeline, "stats", f"{name}.rss_bytes", window)
        if growth is not None:
            into[f"{name}_peak_rss_growth_bytes"] = int(growth[0])
            into[f"{name}_peak_rss_bytes"] = int(growth[1])


@pytest.fixture
def measure_rss(bench_target: BenchTarget):
    """measure_rss(extra_info): a context manager recording peak RSS growth into it."""

    def measure(into: dict[str, object]) -> contextlib.AbstractContextManager[None]:
        return peak_rss_growth(bench_target, into)

    return measure
