"""The bridge beside its peers, from a run's scenario rows: ratios, and the floor.

`reference_ratios`: per transfer (kind, size, chunk), every target's figure and
the bridge's ratio to each: throughput (higher is better), p50, p99 and RSS
growth (lower is better) and CPU seconds per GiB per process.

`floors`: per streamed download (the pattern and a file), how far each side of
the bridge is from what bounds it, in CPU seconds per GiB:
- host: the bridge's host against the floor (the gRPC floor's host, which pulls
  the same response and discards it, plus Go direct's host, which is the client
  write) and against the two hops (Go direct alone);
- plugin: against the gRPC floor's plugin (the same plugin serving the same
  response to a client that only discards it) and against uvicorn serving the
  same app;
- total: the sums.
The client write is Go direct's pattern download of the same size (of the nearest
size the run has when it has not that one: CPU per GiB hardly depends on it),
also for a file: the bridge writes a streamed file from memory, where Go direct's
file route may use sendfile. A file's two hops are Go direct's and uvicorn's own
file serving.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from bench.core.targets import BRIDGE, GO_DIRECT, GO_PLUGIN, GRPC_FLOOR, PYTHON_DIRECT
from bench.observe.samplers import LOADGEN
from bench.results.run import (
    FLOOR_KINDS,
    Distance,
    FloorRow,
    ReferenceRow,
    RunSummary,
    ScenarioRow,
)

REFERENCE_KINDS = ("download", "upload", "file", "small", "rps")
REFERENCE_UNITS = {"small": "req/s (1/p50)", "rps": "req/s"}
# RSS growth under this on both sides is sampling noise (page-sized steps): no ratio.
RSS_RATIO_FLOOR_BYTES = 1024 * 1024

Key = tuple[str, int, int]  # kind, size, chunk


def _value(row: ScenarioRow) -> float | None:
    """The figure a reference row compares: req/s for small requests, MB/s otherwise."""
    if row.kind == "small":
        return 1000.0 / row.latency_ms.p50 if row.latency_ms and row.latency_ms.p50 else None
    if row.kind == "rps":
        return row.requests_per_s
    return row.throughput_mb_s


def _metrics(row: ScenarioRow) -> dict[str, float]:
    # The target's own processes together (bridge: host + plugin), not the load generator.
    growth = [v for name, v in row.rss_growth_bytes.items() if name != LOADGEN]
    metrics = {
        "p50_ms": row.latency_ms.p50 if row.latency_ms else None,
        "p99_ms": row.latency_ms.p99 if row.latency_ms else None,
        "rss_growth_bytes": sum(growth) if growth else None,
    }
    return {k: float(v) for k, v in metrics.items() if v is not None}


def _ratio_meaningful(metric: str, bridge: float, reference: float) -> bool:
    return metric != "rss_growth_bytes" or max(bridge, reference) >= RSS_RATIO_FLOOR_BYTES


def _own_cpu(row: ScenarioRow) -> dict[str, float]:
    return {n: v for n, v in row.cpu_seconds_per_gib.items() if n != LOADGEN}


def reference_ratios(rows: Iterable[ScenarioRow]) -> list[ReferenceRow]:
    """One row per transfer that the bridge and at least one peer ran."""
    grouped: dict[Key, dict[str, ScenarioRow]] = {}
    for row in rows:
        if row.kind in REFERENCE_KINDS and row.ok and _value(row):
            grouped.setdefault((row.kind, row.size_bytes, row.chunk_bytes), {})[row.target] = row
    out = []
    for (kind, size, chunk), by_target in sorted(grouped.items()):
        if BRIDGE not in by_target or len(by_target) < 2:
            continue
        values = {t: float(_value(r) or 0) for t, r in by_target.items()}
        metrics: dict[str, dict[str, float]] = {}
        for target, row in by_target.items():
            for metric, figure in _metrics(row).items():
                metrics.setdefault(metric, {})[target] = figure
        out.append(
            ReferenceRow(
                kind=kind,
                size_bytes=size,
                chunk_bytes=chunk,
                unit=REFERENCE_UNITS.get(kind, "MB/s"),
                values=values,
                bridge_ratio_to={t: values[BRIDGE] / v for t, v in values.items() if t != BRIDGE},
                metrics=metrics,
                metric_ratios={
                    metric: {
                        t: figures[BRIDGE] / f
                        for t, f in figures.items()
                        if t != BRIDGE and f > 0 and _ratio_meaningful(metric, figures[BRIDGE], f)
                    }
                    for metric, figures in metrics.items()
                    if BRIDGE in figures
                },
                cpu_s_per_gib={t: cpu for t, r in by_target.items() if (cpu := _own_cpu(r))},
            )
        )
    return out


def _sum(*values: float | None) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _client_write(
    cpu: dict[Key, dict[str, dict[str, float]]], size: int, chunk: int
) -> float | None:
    """Go direct's host CPU per GiB writing the pattern to the client from memory: at
    the same size and chunk, else at the nearest size the run has (a per-GiB figure)."""
    sizes = [
        s for (kind, s, c), t in cpu.items() if kind == "download" and c == chunk and GO_DIRECT in t
    ]
    if not sizes:
        return None
    nearest = min(sizes, key=lambda s: (abs(s - size), -s))
    return cpu[("download", nearest, chunk)][GO_DIRECT].get("host")


def floors(rows: Iterable[ScenarioRow]) -> list[FloorRow]:
    """The distance to the floor of every streamed download the gRPC floor also pulled."""
    cpu: dict[Key, dict[str, dict[str, float]]] = {}
    for row in rows:
        if row.ok and row.kind in (*FLOOR_KINDS,) and row.cpu_seconds_per_gib:
            key = (row.kind, row.size_bytes, row.chunk_bytes)
            cpu.setdefault(key, {})[row.target] = _own_cpu(row)
    out = []
    for (kind, size, chunk), by_target in sorted(cpu.items()):
        bridge, floor = by_target.get(BRIDGE), by_target.get(GRPC_FLOOR)
        if not bridge or not floor:
            continue
        direct = by_target.get(GO_DIRECT, {})
        client_write = _client_write(cpu, size, chunk)
        python_hop = by_target.get(PYTHON_DIRECT, {}).get(PYTHON_DIRECT)
        host = Distance(
            bridge.get("host"), _sum(floor.get("host"), client_write), direct.get("host")
        )
        plugin = Distance(bridge.get("plugin"), floor.get("plugin"), python_hop)
        total = Distance(
            _sum(host.bridge, plugin.bridge),
            _sum(host.floor, plugin.floor),
            _sum(host.two_hops, plugin.two_hops),
        )
        out.append(FloorRow(kind, size, chunk, host, plugin, total))
    return out


DEFAULT_CHUNK = 1024 * 1024  # the bridge's default chunk: headline figures are read there


Row = TypeVar("Row", ReferenceRow, FloorRow, ScenarioRow)


def headline(rows: Iterable[Row]) -> dict[str, Row]:
    """Per kind, the row that speaks for it (of the references, the floors or one
    target's scenarios): the largest size, at the default chunk when the run has it
    (what the summary's first table and the trend show)."""
    best: dict[str, tuple[tuple[int, int], Row]] = {}
    for row in rows:
        rank = (row.size_bytes, 1 if row.chunk_bytes == DEFAULT_CHUNK else 0)
        if row.kind not in best or rank > best[row.kind][0]:
            best[row.kind] = (rank, row)
    return {kind: row for kind, (_, row) in best.items()}


# The peers the bridge is measured against first: a Go plugin (what plugins are
# written in today), the HTTP hop alone, and Python serving the same app alone.
HEADLINE_PEERS = (GO_PLUGIN, GO_DIRECT, PYTHON_DIRECT)
# What the headline speaks for: large downloads and uploads, a streamed file, and
# small requests (req/s from many connections).
HEADLINE_KINDS = ("download", "upload", "file", "rps")


@dataclass(frozen=True)
class Standing:
    """Where the bridge stands on one kind of traffic in one run: its figure and its
    ratio (bridge / peer) to each headline peer; None where that did not run."""

    kind: str
    unit: str
    size_bytes: int = 0
    chunk_bytes: int = 0
    bridge: float | None = None  # None: the bridge did not run this kind
    ratios: dict[str, float | None] = field(default_factory=dict)  # peer -> ratio or None


def standing(summary: RunSummary) -> list[Standing]:
    """One line per headline kind, from the run's own rows: the reference row that
    speaks for the kind (`headline`), else the bridge's own row of it, without peers."""
    references = headline(summary.references)
    alone = headline(r for r in summary.scenarios if r.target == BRIDGE and r.ok)
    out = []
    for kind in HEADLINE_KINDS:
        ratios: dict[str, float | None] = dict.fromkeys(HEADLINE_PEERS)
        size, chunk, bridge = 0, 0, None
        if (ref := references.get(kind)) is not None:
            ratios.update((p, ref.bridge_ratio_to.get(p)) for p in HEADLINE_PEERS)
            size, chunk, bridge = ref.size_bytes, ref.chunk_bytes, ref.values.get(BRIDGE)
        elif (row := alone.get(kind)) is not None:
            size, chunk, bridge = row.size_bytes, row.chunk_bytes, _value(row)
        out.append(Standing(kind, REFERENCE_UNITS.get(kind, "MB/s"), size, chunk, bridge, ratios))
    return out
