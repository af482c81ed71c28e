"""From a run's results and sampled timeline to memory figures and run-level verdicts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.judge import verdicts
from bench.observe.samplers import LOADGEN, Timeline, window_growth
from bench.runner.targets import BRIDGE
from bench.scenarios.base import ScenarioResult

# Processes seen through /debug/stats when the bench did not spawn them.
STATS_PROCESSES = {"host": "host.rss_bytes", "plugin": "plugin.rss_bytes"}


@dataclass
class MemoryFigure:
    growth_bytes: float
    peak_bytes: float
    samples: int
    source: str  # "psutil", "stats" or "container"


def memory_figures(result: ScenarioResult, timeline: Timeline) -> dict[str, MemoryFigure]:
    """Peak RSS growth per process in the scenario's window (psutil first, else /debug/stats),
    plus the load generator and any container working sets."""
    window = result.window
    if window is None:
        return {}
    figures: dict[str, MemoryFigure] = {}
    for name in [*result.target.processes, LOADGEN]:
        got = window_growth(timeline, name, "rss_bytes", window)
        if got is not None:
            figures[name] = MemoryFigure(*got, source="psutil")
    for name, key in STATS_PROCESSES.items():
        if result.target.processes or name in figures:
            continue  # /debug/stats only stands in when the bench has no PIDs
        got = window_growth(timeline, "stats", key, window)
        if got is not None:
            figures[name] = MemoryFigure(*got, source="stats")
    for source in timeline.sources():
        if source.startswith("container:"):
            got = window_growth(timeline, source, "working_set_bytes", window)
            if got is not None:
                figures[source] = MemoryFigure(*got, source="container")
    return figures


def bounded_memory_verdicts(
    results: Iterable[ScenarioResult], timeline: Timeline, tol: verdicts.Tolerances
) -> list[verdicts.Verdict]:
    """Per chunk, direction and process: growth at the smallest vs the largest bridge size."""
    groups: dict[tuple[str, int], list[ScenarioResult]] = {}
    for r in results:
        if r.ok and r.scenario.target == BRIDGE and r.scenario.kind in ("download", "upload"):
            groups.setdefault((r.scenario.kind, r.scenario.chunk), []).append(r)
    out = []
    for (kind, chunk), group in sorted(groups.items()):
        group.sort(key=lambda r: r.scenario.size)
        if len(group) < 2:
            continue
        small, large = group[0], group[-1]
        small_figs = memory_figures(small, timeline)
        large_figs = memory_figures(large, timeline)
        for process in ("host", "plugin"):
            if process not in small_figs or process not in large_figs:
                continue
            verdict = verdicts.bounded_memory(
                process,
                kind,
                small.scenario.size,
                small_figs[process].growth_bytes,
                large.scenario.size,
                large_figs[process].growth_bytes,
                tol,
            )
            verdict.name += f"/c{chunk}"
            verdict.figures["chunk_bytes"] = chunk
            out.append(verdict)
    return out


def scenario_verdicts(results: Iterable[ScenarioResult]) -> list[verdicts.Verdict]:
    """Verdicts the engine decided during scenarios (backpressure, abort cleanup, soak)."""
    out: list[verdicts.Verdict] = []
    for r in results:
        # Suffixed like bounded-memory: a run has one such scenario per chunk setting.
        out.extend(dataclasses.replace(v, name=f"{v.name}/c{r.scenario.chunk}") for v in r.verdicts)
        if not r.ok:
            out.append(
                verdicts.Verdict(
                    name=f"scenario-ok/{r.scenario.id}",
                    passed=False,
                    summary=f"{r.scenario.id} failed: {r.error}",
                    figures={"error": r.error},
                )
            )
    return out


def all_verdicts(
    results: list[ScenarioResult], timeline: Timeline, tol: verdicts.Tolerances
) -> list[verdicts.Verdict]:
    return [
        *bounded_memory_verdicts(results, timeline, tol),
        *scenario_verdicts(results),
    ]


# Per-target figures besides throughput compared in the references table:
# summary.json scenario row -> value, lower is better for all of them.
REFERENCE_METRICS = ("p50_ms", "p99_ms", "rss_growth_bytes")
REFERENCE_UNITS = {"small": "req/s (1/p50)", "rps": "req/s"}
# RSS growth under this on both sides is sampling noise (page-sized steps): no ratio.
RSS_RATIO_FLOOR_BYTES = 1024 * 1024


def _row_metrics(row: dict[str, Any]) -> dict[str, float]:
    latency = row.get("latency_ms") or {}
    # The target's own processes together (bridge: host + plugin), not the load generator.
    growth = [v for name, v in (row.get("rss_growth_bytes") or {}).items() if name != LOADGEN]
    metrics = {
        "p50_ms": latency.get("p50"),
        "p99_ms": latency.get("p99"),
        "rss_growth_bytes": sum(growth) if growth else None,
    }
    return {k: float(v) for k, v in metrics.items() if v is not None}


def _ratio_meaningful(metric: str, bridge: float, reference: float) -> bool:
    return metric != "rss_growth_bytes" or max(bridge, reference) >= RSS_RATIO_FLOOR_BYTES


def reference_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Side by side figures per (kind, size, chunk) over targets, with ratios to the bridge.

    rows: summary.json scenario entries. `values`/`bridge_ratio_to` hold throughput
    (higher is better); `metrics`/`metric_ratios` hold p50, p99 and RSS growth per
    target and bridge / reference for each (lower is better; a ratio is left out
    when the reference's figure is 0, or for RSS when both growths are below
    RSS_RATIO_FLOOR_BYTES).
    """
    groups: dict[tuple[str, int, int], dict[str, float]] = {}
    metrics: dict[tuple[str, int, int], dict[str, dict[str, float]]] = {}
    for row in rows:
        if row["kind"] not in ("download", "upload", "small", "rps") or not row["ok"]:
            continue
        key = (row["kind"], row["size_bytes"], row["chunk_bytes"])
        if row["kind"] == "small":
            p50 = (row.get("latency_ms") or {}).get("p50")
            value = 1000.0 / p50 if p50 else None  # requests/s of one client
        elif row["kind"] == "rps":
            value = (row.get("extra") or {}).get("requests_per_s")  # all connections together
        else:
            value = row.get("throughput_mb_s")
        if value:
            groups.setdefault(key, {})[row["target"]] = value
            for metric, figure in _row_metrics(row).items():
                metrics.setdefault(key, {}).setdefault(metric, {})[row["target"]] = figure
    out = []
    for (kind, size, chunk), by_target in sorted(groups.items()):
        if BRIDGE not in by_target or len(by_target) < 2:
            continue
        by_metric = metrics.get((kind, size, chunk), {})
        entry: dict[str, Any] = {
            "kind": kind,
            "size_bytes": size,
            "chunk_bytes": chunk,
            "unit": REFERENCE_UNITS.get(kind, "MB/s"),
            "values": by_target,
            "bridge_ratio_to": {
                target: by_target[BRIDGE] / value
                for target, value in by_target.items()
                if target != BRIDGE
            },
            "metrics": by_metric,
            "metric_ratios": {
                metric: {
                    target: figures[BRIDGE] / figure
                    for target, figure in figures.items()
                    if target != BRIDGE
                    and figure > 0
                    and _ratio_meaningful(metric, figures[BRIDGE], figure)
                }
                for metric, figures in by_metric.items()
                if BRIDGE in figures
            },
        }
        out.append(entry)
    return out
