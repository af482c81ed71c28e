"""Typed result rows: one per scenario, one per (chunk, kind) of a sweep.

Built from finished results and the sampled timeline; `to_dict` gives the
summary.json form (schema_version 1), so the JSON keys live in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.judge import assess
from bench.observe.samplers import Timeline, window_delta
from bench.runner.targets import BRIDGE, GO_DIRECT
from bench.scenarios.base import ScenarioResult

MiB = 1024 * 1024
GiB = 1024 * MiB
# Below this a transfer's window is too short for a CPU figure: the 50 ms tick dominates.
CPU_FIGURE_MIN_BYTES = 64 * MiB
SWEEP_KINDS = ("download", "upload")
SWEEP_PROCESSES = ("host", "plugin")  # the bridge's own processes


@dataclass
class ScenarioRow:
    """One entry of summary.json `scenarios` (field order is the JSON key order)."""

    id: str
    kind: str
    target: str
    direction: str
    size_bytes: int
    chunk_bytes: int
    concurrency: int
    requests: int
    ok: bool
    error: str | None
    seconds: float
    bytes: int
    throughput_mb_s: float | None
    latency_ms: dict[str, float] | None
    rss_growth_bytes: dict[str, float]  # per process: psutil, else /debug/stats
    peak_rss_bytes: dict[str, float]
    memory_source: dict[str, str]  # per process and container: psutil, stats, container
    samples: dict[str, int]
    container_peak_bytes: dict[str, float]  # per compose service
    window_s: list[float | None] | None
    cpu_seconds_per_gib: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)  # the kind's own figures

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def scenario_row(result: ScenarioResult, timeline: Timeline) -> ScenarioRow:
    sc = result.scenario
    figures = assess.memory_figures(result, timeline)
    processes = {n: f for n, f in figures.items() if f.source != "container"}
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
        latency_ms=result.latency_ms(),
        rss_growth_bytes={n: f.growth_bytes for n, f in processes.items()},
        peak_rss_bytes={n: f.peak_bytes for n, f in processes.items()},
        memory_source={n: f.source for n, f in figures.items()},
        samples={n: f.samples for n, f in figures.items()},
        container_peak_bytes={
            n.removeprefix("container:"): f.peak_bytes
            for n, f in figures.items()
            if f.source == "container"
        },
        window_s=[result.window.start, result.window.end] if result.window is not None else None,
        cpu_seconds_per_gib=cpu_seconds_per_gib(result, timeline),
        extra={k: v for k, v in result.extra.items() if k != "completions"},
    )


def cpu_seconds_per_gib(result: ScenarioResult, timeline: Timeline) -> dict[str, float]:
    """CPU seconds (user + system) each process serving the target spent per GiB moved.

    The plugin's target is < 1 s/GiB (docs/design.md). Only for transfers of at least 64 MiB:
    below that the 50 ms sampling tick is a large part of the window.
    """
    if result.window is None or result.bytes < CPU_FIGURE_MIN_BYTES:
        return {}
    out = {}
    for name in result.target.processes:  # bridge: host + plugin; go-direct: host; ...
        spent = window_delta(timeline, name, "cpu_seconds", result.window)
        if spent is not None:
            out[name] = spent / (result.bytes / GiB)
    return out


@dataclass
class SweepRow:
    """The largest transfer of one kind at one chunk setting, every target side by side."""

    chunk_bytes: int
    kind: str
    size_bytes: int
    mb_s: dict[str, float | None] = field(default_factory=dict)  # per target
    # The bridge's processes (host, plugin); empty when the bridge did not run.
    rss_growth_bytes: dict[str, float | None] = field(default_factory=dict)
    cpu_s_per_gib: dict[str, float | None] = field(default_factory=dict)

    @property
    def bridge_vs_go_direct(self) -> float | None:
        bridge, direct = self.mb_s.get(BRIDGE), self.mb_s.get(GO_DIRECT)
        return bridge / direct if bridge and direct else None

    def to_dict(self) -> dict[str, Any]:
        """summary.json `sweep` entry: flat keys such as `go-direct_mb_s`, `host_cpu_s_per_gib`."""
        out: dict[str, Any] = {
            "chunk_bytes": self.chunk_bytes,
            "kind": self.kind,
            "size_bytes": self.size_bytes,
        }
        out.update({f"{target}_mb_s": v for target, v in self.mb_s.items()})
        for proc in self.rss_growth_bytes:
            out[f"{proc}_rss_growth_bytes"] = self.rss_growth_bytes[proc]
            out[f"{proc}_cpu_s_per_gib"] = self.cpu_s_per_gib.get(proc)
        out["bridge_vs_go_direct"] = self.bridge_vs_go_direct
        return out


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
    return [table[key] for key in sorted(table)]
