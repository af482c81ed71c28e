"""The capacity run folder: summary.json, summary.md (capacity table, levels) and plots.

Plots, one panel per mode: aggregate throughput against concurrency (one line
per target) and peak memory against concurrency (one line per target and
process, the cap drawn across); a level that broke a limit is marked with an x.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.core.tables import md_table
from bench.core.units import MiB
from bench.observe.samplers import LOADGEN
from bench.report.plots import pyplot
from bench.report.summary import write_summary
from bench.results import SummaryError, load_summary
from bench.results.capacity import MODES, CapacityRun, LevelResult, Ramp
from bench.results.format import CAPACITY_KIND, write_json
from bench.results.run import LatestCapacity, RunSummary

CLIENT_BOUND_CORES = 0.9  # the load generator near one core: the GIL may be the limit
log = logging.getLogger(__name__)
THROUGHPUT_PNG = "capacity_throughput.png"
MEMORY_PNG = "capacity_memory.png"


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def _peaks(level: LevelResult) -> str:
    return ", ".join(f"{p.name} {p.peak_bytes / MiB:.0f}" for p in level.processes) or "-"


def _at_capacity(ramp: Ramp) -> LevelResult | None:
    return next((lv for lv in ramp.levels if lv.concurrency == ramp.capacity), None)


def capacity_table(ramps: Iterable[Ramp]) -> str:
    rows = []
    for ramp in ramps:
        held = _at_capacity(ramp)
        rows.append(
            [
                ramp.target,
                ramp.mode,
                f"**{ramp.capacity}**",
                "-" if ramp.stopped_at is None else str(ramp.stopped_at),
                ramp.reason,
                _fmt(held.aggregate_mb_s if held else None),
                _peaks(held) if held else "-",
            ]
        )
    header = [
        "target",
        "mode",
        "capacity",
        "stopped at",
        "why",
        "MB/s at capacity",
        "peak MiB at capacity",
    ]
    return md_table(header, rows)


def _cpu(level: LevelResult) -> str:
    cells = [f"{p.name} {p.cpu_s_per_gib:.2f}" for p in level.processes if p.cpu_s_per_gib]
    return ", ".join(cells) or "-"


def levels_table(ramps: Iterable[Ramp]) -> str:
    rows = []
    for ramp in ramps:
        for lv in ramp.levels:
            client = _fmt(lv.client_cpu_cores, ".2f")
            if lv.client_cpu_cores is not None and lv.client_cpu_cores >= CLIENT_BOUND_CORES:
                client += " (client-bound?)"
            rows.append(
                [
                    ramp.key,
                    f"{lv.concurrency}"
                    + (f" (x{lv.transfers_per_stream})" if lv.transfers_per_stream > 1 else ""),
                    f"{lv.stream_bytes / MiB:g}",
                    _fmt(lv.aggregate_mb_s),
                    f"{_fmt(lv.stream_mb_s_min, '.1f')} / {_fmt(lv.stream_mb_s_median, '.1f')}",
                    _fmt(lv.jain_index, ".2f"),
                    f"{_fmt(lv.ttfb_p50_ms, '.1f')} / {_fmt(lv.ttfb_p99_ms, '.1f')}",
                    ", ".join(f"{k} x{n}" for k, n in lv.errors.items()) or "-",
                    _peaks(lv),
                    _cpu(lv),
                    client,
                    "held" if lv.held else "**" + "; ".join(lv.breaches) + "**",
                ]
            )
    header = [
        "ramp",
        "streams",
        "MiB each",
        "MB/s",
        "stream MB/s min / median",
        "Jain",
        "TTFB p50 / p99 ms",
        "errors",
        "peak MiB",
        "CPU s/GiB",
        "client cores",
        "result",
    ]
    return md_table(header, rows)


def peak_growth_rows(ramps: Iterable[Ramp]) -> list[list[str]]:
    """Per ramp and process: the peak at the fewest streams against the peak at the most
    that held (what grows with the number of clients, not with a body)."""
    rows = []
    for ramp in ramps:
        held = [lv for lv in ramp.levels if lv.held]
        if len(held) < 2:
            continue
        low, high = held[0], held[-1]
        for peak in low.processes:
            top = high.peak(peak.name)
            if peak.name == LOADGEN or top is None or not peak.peak_bytes:
                continue
            rows.append(
                [
                    ramp.key,
                    peak.name,
                    f"{peak.peak_bytes / MiB:.1f} at {low.concurrency}",
                    f"{top / MiB:.1f} at {high.concurrency}",
                    f"{(top / peak.peak_bytes - 1):+.0%}",
                ]
            )
    return rows


def summary_markdown(run: CapacityRun) -> str:
    s = run.settings
    per_stream = (
        f"{s.stream_bytes / MiB:g} MiB x {max(s.levels)} / N each (the same bytes per level)"
        if s.same_bytes
        else f"{s.stream_bytes / MiB:g} MiB each"
    )
    out = [
        f"# streambench capacity {run.run_id} ({run.profile} profile)",
        "",
        run.environment.line(),
        "",
        f"Levels {', '.join(map(str, run.levels))} concurrent streams of {per_stream}"
        + ("; fresh processes for every level." if s.fresh else "."),
        "",
        f"A level holds when every stream moved its bytes intact, no serving process or "
        f"container went over {run.limits.memory_cap_bytes / MiB:.0f} MiB or was killed, and "
        f"the downloads' p99 time to first byte stayed under "
        f"{run.limits.ttfb_slo_s * 1000:.0f} ms. **Capacity** is the highest level that held.",
        "",
        "## Capacity",
        "",
        capacity_table(run.ramps),
        "",
        "## Every level",
        "",
        (
            "streams (xN) = N transfers back to back on each stream, so that a level moves at "
            f"least {s.min_level_bytes / MiB:g} MiB; "
            if s.min_level_bytes
            else ""
        )
        + "MB/s = 10^6 B/s over the level's wall time; Jain = fairness of per-stream MB/s "
        "(1 = equal); TTFB of downloads; peak MiB per process (psutil RSS, `/debug/stats` or "
        "container working set); client cores = the load generator's CPU seconds per second.",
        "",
        levels_table(run.ramps),
    ]
    client = [lv.client_cpu_cores for r in run.ramps for lv in r.levels if lv.client_cpu_cores]
    if client:
        out += [
            "",
            f"The load generator used at most {max(client):.2f} CPU cores in any level "
            f"(one Python interpreter tops out near 1.0; from {CLIENT_BOUND_CORES} a level "
            "is marked client-bound?).",
        ]
    growth = peak_growth_rows(run.ramps)
    if growth:
        out += [
            "",
            "## Peak growth with the number of streams",
            "",
            md_table(
                ["ramp", "process", "peak MiB (fewest)", "peak MiB (most held)", "growth"], growth
            ),
        ]
    if run.notes:
        out += ["", *[f"- {note}" for note in run.notes]]
    out += ["", f"Plots: [{THROUGHPUT_PNG}]({THROUGHPUT_PNG}), [{MEMORY_PNG}]({MEMORY_PNG})."]
    return "\n".join(out) + "\n"


# -- plots ---------------------------------------------------------------------


def _panels(run: CapacityRun, title: str) -> tuple[Any, Any, list[Any], list[str]]:
    """A figure with one panel per mode present in the run: (pyplot, figure, axes, modes)."""
    plt = pyplot()
    modes = [m for m in MODES if any(r.mode == m for r in run.ramps)] or [MODES[0]]
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 4.5), squeeze=False)
    fig.suptitle(title)
    return plt, fig, list(axes[0]), modes


def _finish(
    plt: Any,
    fig: Any,
    axes: list[Any],
    modes: list[str],
    levels: list[int],
    ylabel: str,
    path: Path,
) -> Path:
    for ax, mode in zip(axes, modes, strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, labels=[str(n) for n in levels])
        ax.set_xlabel("concurrent streams")
        ax.set_ylabel(ylabel)
        ax.set_title(mode)
        if ax.lines:
            ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _line(ax: Any, levels: list[LevelResult], values: list[float | None], label: str) -> None:
    points = [(lv, v) for lv, v in zip(levels, values, strict=True) if v is not None]
    if not points:
        return
    (line,) = ax.plot(
        [lv.concurrency for lv, _ in points], [v for _, v in points], marker="o", label=label
    )
    broken = [(lv.concurrency, v) for lv, v in points if not lv.held]
    if broken:
        ax.plot(*zip(*broken, strict=True), "x", color=line.get_color(), markersize=12, mew=2)


def plot_throughput(run: CapacityRun, path: Path) -> Path:
    plt, fig, axes, modes = _panels(
        run, "Aggregate throughput vs concurrency (x: the level that broke)"
    )
    for ax, mode in zip(axes, modes, strict=True):
        for ramp in (r for r in run.ramps if r.mode == mode):
            _line(ax, ramp.levels, [lv.aggregate_mb_s for lv in ramp.levels], ramp.target)
    return _finish(plt, fig, axes, modes, run.levels, "MB/s", path)


def plot_memory(run: CapacityRun, path: Path) -> Path:
    plt, fig, axes, modes = _panels(run, "Peak memory vs concurrency, per target and process")
    cap = run.limits.memory_cap_bytes / MiB
    for ax, mode in zip(axes, modes, strict=True):
        ax.axhline(cap, color="red", ls="--", lw=1, label=f"cap {cap:.0f} MiB")
        for ramp in (r for r in run.ramps if r.mode == mode):
            names = dict.fromkeys(p.name for lv in ramp.levels for p in lv.processes)
            for name in (n for n in names if n != LOADGEN):
                values = [lv.peak(name) for lv in ramp.levels]
                _line(
                    ax,
                    ramp.levels,
                    [None if v is None else v / MiB for v in values],
                    f"{ramp.target}: {name}",
                )
    return _finish(plt, fig, axes, modes, run.levels, "peak MiB", path)


def write_capacity_run(run_dir: Path, run: CapacityRun) -> None:
    """summary.json, summary.md and the two plots into run_dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    plot_throughput(run, run_dir / THROUGHPUT_PNG)
    plot_memory(run, run_dir / MEMORY_PNG)
    run.files = sorted(
        {p.name for p in run_dir.iterdir() if p.is_file()} | {"summary.json", "summary.md"}
    )
    write_json(run_dir / "summary.json", run.to_json())
    (run_dir / "summary.md").write_text(summary_markdown(run))


# -- the link from `bench run` ---------------------------------------------------


def latest_capacity_run(results_dir: Path, before: str | None = None) -> Path | None:
    """The newest run folder under results_dir holding a capacity summary.json."""
    for folder in sorted((p for p in results_dir.iterdir() if p.is_dir()), reverse=True):
        if before is not None and folder.name >= before:
            continue
        summary = folder / "summary.json"
        if not summary.is_file():
            continue
        try:
            if json.loads(summary.read_text()).get("kind") == CAPACITY_KIND:
                return folder
        except (OSError, ValueError):
            continue
    return None


def link_latest(run_dir: Path, summary: RunSummary) -> None:
    """Adds the newest capacity figures to a `bench run`'s summary (and its files)."""
    found = latest_capacity_run(run_dir.parent, before=run_dir.name)
    if found is None:
        return
    try:
        capacity = load_summary(found)
    except SummaryError as exc:
        log.warning("not linking %s: %s", found, exc)
        return
    if not isinstance(capacity, CapacityRun):
        return
    link = f"../{found.name}/summary.md"
    summary.latest_capacity = LatestCapacity(
        found.name, link, {r.key: r.capacity for r in capacity.ramps}
    )
    write_summary(run_dir, summary)
    section = (
        f"\n## Capacity (latest capacity run: [{found.name}]({link}))\n\n"
        f"{capacity_table(capacity.ramps)}\n"
    )
    with (run_dir / "summary.md").open("a") as out:
        out.write(section)
