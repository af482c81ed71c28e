"""Typed result rows: one per scenario, one per (chunk, kind) of a sweep.

Built from finished results and the sampled timeline (the memory window of
bench/observe/windows.py); the records are the results format's
(bench/results/run.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.core.targets import BRIDGE, GO_DIRECT
from bench.core.units import GiB
from bench.observe.samplers import Timeline
from bench.observe.windows import window_figures
from bench.results.run import LatencyMs, ScenarioRow, SweepRow
from bench.scenarios.base import ScenarioResult

# What a sweep runs at every chunk setting: the transfers whose cost depends on the chunk.
SWEEP_KINDS = ("download", "upload", "file", "file-offload")
SWEEP_PROCESSES = ("host", "plugin")  # the bridge's own processes


def scenario_row(result: ScenarioResult, timeline: Timeline) -> ScenarioRow:
    sc = result.scenario
    figures = window_figures(timeline, result.window, result.target)
    processes = [f for f in figures if not f.is_container]
    latency = result.latency_ms()
    return ScenarioRow(
        id=sc.id,
        kind=sc.kind,
        target=sc.target,
        direction=sc.direction,
        size_bytes=sc.size,
        chunk_bytes=sc.chunk,
        concurrency=sc.concurrency,
        requests=sc.requests,
        ok=result.ok,
        error=result.error,
        seconds=result.seconds,
        bytes=result.bytes,
        throughput_mb_s=result.throughput_mb_s,
        latency_ms=LatencyMs(latency["p50"], latency["p99"], latency["mean"], int(latency["count"]))
        if latency
        else None,
        rss_growth_bytes={f.name: f.growth_bytes for f in processes},
        peak_rss_bytes={f.name: f.peak_bytes for f in processes},
        memory_source={f.name: f.source for f in figures},
        samples={f.name: f.samples for f in figures},
        container_peak_bytes={
            f.name.removeprefix("container:"): f.peak_bytes for f in figures if f.is_container
        },
        window_s=[result.window.start, result.window.end] if result.window is not None else None,
        cpu_seconds_per_gib=cpu_seconds_per_gib(result),
        extra={k: v for k, v in result.extra.items() if k != "completions"},
    )


def cpu_seconds_per_gib(result: ScenarioResult) -> dict[str, float]:
    """CPU seconds each process serving the target, and the bench's own client
    (`loadgen`), spent per GiB moved: read at the start and the end of each transfer
    (bench/scenarios/base.py: RunContext.measuring_cpu), whatever its size."""
    if not result.bytes or not result.cpu_seconds:
        return {}
    gib = result.bytes / GiB
    return {name: seconds / gib for name, seconds in result.cpu_seconds.items()}


def sweep_table(rows: Iterable[ScenarioRow]) -> list[SweepRow]:
    """One row per (chunk, kind): every target's MB/s, the bridge's RSS growth and CPU."""
    transfers = [r for r in rows if r.kind in SWEEP_KINDS and r.ok]
    # The largest size per (chunk, kind) only: mixing sizes would pair one
    # size's label with another's figures.
    largest: dict[tuple[int, str], int] = {}
    for r in transfers:
        key = (r.chunk_bytes, r.kind)
        largest[key] = max(largest.get(key, 0), r.size_bytes)
    table: dict[tuple[int, str], SweepRow] = {}
    for r in transfers:
        key = (r.chunk_bytes, r.kind)
        if r.size_bytes != largest[key]:
            continue
        row = table.setdefault(key, SweepRow(r.chunk_bytes, r.kind, r.size_bytes))
        row.mb_s[r.target] = r.throughput_mb_s
        if r.target == BRIDGE:
            for proc in SWEEP_PROCESSES:
                row.rss_growth_bytes[proc] = r.rss_growth_bytes.get(proc)
                row.cpu_s_per_gib[proc] = r.cpu_seconds_per_gib.get(proc)
    # An offloaded file is the host serving it: beside it, Go direct serving the same file.
    for (chunk, kind), row in table.items():
        served = table.get((chunk, "file"))
        if kind == "file-offload" and served is not None and row.size_bytes == served.size_bytes:
            row.mb_s.setdefault(GO_DIRECT, served.mb_s.get(GO_DIRECT))
    return [table[key] for key in sorted(table)]
