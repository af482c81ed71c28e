"""From a run's results and sampled timeline to its verdicts.

- bounded memory: per transfer kind, chunk and process, the growth at the
  bridge's largest size against its smallest (bench/judge/verdicts.py);
- what each scenario read (its typed reading): backpressure, abort cleanup, the
  soak's outcomes, leaks and counters, ranges of served files;
- every scenario that failed, and every container that did not hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bench.core.targets import BRIDGE
from bench.judge import verdicts
from bench.judge.verdicts import Tolerances
from bench.observe.samplers import Timeline
from bench.observe.windows import ProcessFigure, window_figures
from bench.results.containers import ContainerFigures
from bench.results.verdict import Verdict
from bench.scenarios.base import ScenarioResult
from bench.scenarios.behaviour import AbortReading, BackpressureReading
from bench.scenarios.files import RangeReading
from bench.scenarios.soak import SoakReading

# Transfer kinds whose memory must not depend on the body size.
BOUNDED_KINDS = ("download", "upload", "file", "file-offload")
BOUNDED_PROCESSES = ("host", "plugin")


def memory_figures(result: ScenarioResult, timeline: Timeline) -> dict[str, ProcessFigure]:
    """The scenario's window, by process name (bench/observe/windows.py)."""
    return {f.name: f for f in window_figures(timeline, result.window, result.target)}


def bounded_memory_verdicts(
    results: Iterable[ScenarioResult], timeline: Timeline, tol: Tolerances
) -> list[Verdict]:
    """Per kind, chunk and process: growth at the smallest vs the largest bridge size."""
    groups: dict[tuple[str, int], list[ScenarioResult]] = {}
    for r in results:
        if r.ok and r.scenario.target == BRIDGE and r.scenario.kind in BOUNDED_KINDS:
            groups.setdefault((r.scenario.kind, r.scenario.chunk), []).append(r)
    out = []
    for (kind, chunk), group in sorted(groups.items()):
        group.sort(key=lambda r: r.scenario.size)
        if len(group) < 2:
            continue
        small, large = group[0], group[-1]
        small_figs, large_figs = memory_figures(small, timeline), memory_figures(large, timeline)
        for process in BOUNDED_PROCESSES:
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


def reading_verdicts(result: ScenarioResult, tol: Tolerances) -> list[Verdict]:
    """The verdicts of what one scenario read, by the kind of its reading."""
    reading = result.reading
    if isinstance(reading, BackpressureReading):
        return [
            verdicts.backpressure(
                reading.plugin_rss_growth_bytes,
                reading.host_pulled_ahead_bytes,
                reading.client_read_bytes,
                reading.body_size_bytes,
                tol,
            )
        ]
    if isinstance(reading, AbortReading):
        before, after = reading.stats_before, reading.stats_after
        return [
            verdicts.abort_cleanup(
                reading.aborts,
                before.get("plugin.handlers_cancelled"),
                after.get("plugin.handlers_cancelled"),
                after.get("plugin.active_handlers"),
                after.get("host.active_streams"),
            )
        ]
    if isinstance(reading, SoakReading):
        out = [verdicts.soak_outcomes(reading.requests, reading.outcomes, reading.anomalies)]
        if all(reading.measured):
            out += verdicts.soak_leak_verdicts(reading.measured, reading.round_requests, tol)
        out += verdicts.counters_return(reading.stats_before, reading.stats_after, tol)
        return out
    if isinstance(reading, RangeReading):
        checks = [(c.first, c.last, c.ok, c.detail) for c in reading.checks]
        return [
            verdicts.ranges(
                result.scenario.kind, result.scenario.target, reading.file_bytes, checks
            )
        ]
    return []


def scenario_verdicts(results: Iterable[ScenarioResult], tol: Tolerances) -> list[Verdict]:
    """What each scenario's reading decides, and every scenario that failed."""
    out: list[Verdict] = []
    for r in results:
        # Suffixed like bounded-memory: a run has one such scenario per chunk setting.
        for v in reading_verdicts(r, tol):
            v.name = f"{v.name}/c{r.scenario.chunk}"
            out.append(v)
        if not r.ok:
            out.append(
                Verdict(
                    name=f"scenario-ok/{r.scenario.id}",
                    passed=False,
                    summary=f"{r.scenario.id} failed: {r.error}",
                    figures={"error": r.error},
                )
            )
    return out


def all_verdicts(
    results: list[ScenarioResult],
    timeline: Timeline,
    tol: Tolerances,
    containers: Mapping[str, ContainerFigures] | None = None,
) -> list[Verdict]:
    """Every verdict of a run: memory, readings, failures, then each container's."""
    return [
        *bounded_memory_verdicts(results, timeline, tol),
        *scenario_verdicts(results, tol),
        *(verdicts.container_memory(n, f) for n, f in sorted((containers or {}).items())),
    ]
