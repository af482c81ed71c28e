"""PNG plots of a run: RSS over time, references side by side, the distance to the floor,
throughput vs chunk, leak rounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.core.targets import HOST_SIDES, TARGETS
from bench.core.units import MiB, human_size
from bench.observe.samplers import Timeline
from bench.results.run import RunSummary, ScenarioRow
from bench.scenarios.base import ScenarioResult


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_plot(plt: Any, fig: Any, ax: Any, path: Path, legend_loc: str = "best") -> Path:
    """Every plot ends the same way: legend, tight layout, PNG at 100 dpi, figure freed."""
    ax.legend(loc=legend_loc, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_rss_over_time(timeline: Timeline, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(12, 5))
    for source in timeline.sources():
        if source.startswith(("stats", "container:")):
            continue
        points = timeline.series(source, "rss_bytes")
        if points:
            ax.plot([t for t, _ in points], [v / MiB for _, v in points], label=source, lw=1)
    if not any(timeline.series(s, "rss_bytes") for s in timeline.sources() if s != "stats"):
        for name, where in HOST_SIDES.items():
            points = timeline.series(where.source, where.key("rss_bytes"))
            if points:
                ax.plot([t for t, _ in points], [v / MiB for _, v in points], label=f"{name}")
    for source in timeline.sources():
        if source.startswith("container:"):
            points = timeline.series(source, "working_set_bytes")
            ax.plot([t for t, _ in points], [v / MiB for _, v in points], label=source, ls="--")
    for i, w in enumerate(timeline.windows):
        if w.end is not None and i % 2 == 0:
            ax.axvspan(w.start, w.end, color="grey", alpha=0.12, lw=0)
    ax.set_xlabel("seconds since run start (shaded: every other scenario)")
    ax.set_ylabel("RSS MiB")
    ax.set_title("RSS over time per process")
    return save_plot(plt, fig, ax, path, legend_loc="upper left")


def plot_references(summary: RunSummary, path: Path) -> Path | None:
    refs = [r for r in summary.references if r.unit == "MB/s"]
    if not refs:
        return None
    plt = pyplot()
    names = {t for r in refs for t in r.values}
    targets = [t for t in TARGETS if t in names] + sorted(names - set(TARGETS))
    fig, ax = plt.subplots(figsize=(max(6, len(refs) * 1.6), 4.5))
    width = 0.8 / len(targets)
    for i, target in enumerate(targets):
        xs = [j + i * width for j in range(len(refs))]
        ax.bar(xs, [r.values.get(target, 0) for r in refs], width, label=target)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(refs))])
    ax.set_xticklabels(
        [f"{r.kind}\n{human_size(r.size_bytes)} c{human_size(r.chunk_bytes)}" for r in refs],
        fontsize="small",
    )
    ax.set_ylabel("MB/s")
    ax.set_title("Throughput: bridge and references side by side")
    return save_plot(plt, fig, ax, path)


def plot_floors(summary: RunSummary, path: Path) -> Path | None:
    """CPU s/GiB of each side of the bridge beside its floor and the two hops."""
    if not summary.floors:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, len(summary.floors) * 2.2), 4.5))
    labels = [
        f"{f.kind} {human_size(f.size_bytes)} c{human_size(f.chunk_bytes)}" for f in summary.floors
    ]
    series = (
        ("bridge host", lambda f: f.host.bridge),
        ("floor host", lambda f: f.host.floor),
        ("bridge plugin", lambda f: f.plugin.bridge),
        ("floor plugin", lambda f: f.plugin.floor),
        ("two hops", lambda f: f.total.two_hops),
    )
    width = 0.8 / len(series)
    for i, (label, value) in enumerate(series):
        xs = [j + i * width for j in range(len(summary.floors))]
        ax.bar(xs, [value(f) or 0 for f in summary.floors], width, label=label)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(summary.floors))])
    ax.set_xticklabels(labels, fontsize="small")
    ax.set_ylabel("CPU seconds per GiB")
    ax.set_title("The bridge's CPU per GiB beside its floor (the gRPC pair) and the two hops")
    return save_plot(plt, fig, ax, path)


def plot_throughput_vs_chunk(rows: list[ScenarioRow], path: Path) -> Path | None:
    lines: dict[tuple[str, str, int], list[tuple[int, float]]] = {}
    for s in rows:
        if s.kind in ("download", "upload", "file") and s.ok and s.throughput_mb_s:
            key = (s.kind, s.target, s.size_bytes)
            lines.setdefault(key, []).append((s.chunk_bytes, s.throughput_mb_s))
    lines = {k: sorted(v) for k, v in lines.items() if len({c for c, _ in v}) > 1}
    if not lines:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (kind, target, size), points in sorted(lines.items()):
        ax.plot(
            [c / 1024 for c, _ in points],
            [v for _, v in points],
            marker="o",
            label=f"{kind} {target} {human_size(size)}",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("chunk KiB")
    ax.set_ylabel("MB/s")
    ax.set_title("Throughput vs chunk size")
    return save_plot(plt, fig, ax, path)


def plot_leak(results: list[ScenarioResult], path: Path) -> Path | None:
    """Growth of the Go live heap and of Python's allocated blocks over the soak's rounds."""
    soaks = [r for r in results if r.scenario.kind == "soak" and r.extra.get("leak_rounds")]
    if not soaks:
        return None
    plt = pyplot()
    fig, (heap_ax, blocks_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for r in soaks:
        rounds = r.extra["leak_rounds"]
        per_round, warmups = rounds["round_requests"], rounds["warmup_rounds"]
        # readings[0] is before the soak; its first warm-up growth would dwarf the rest.
        readings = rounds["readings"][1:]
        xs = [(i + 1) * per_round for i in range(len(readings))]
        label = f"c{human_size(r.scenario.chunk)}"
        for ax, key, scale in (
            (heap_ax, "host.heap_live_bytes", 1024),
            (blocks_ax, "plugin.allocated_blocks", 1),
        ):
            values = [reading.get(key) for reading in readings]
            if len(values) > warmups and all(v is not None for v in values):
                base = values[max(warmups - 1, 0)]  # at the end of the warm-up
                ax.plot(xs, [(v - base) / scale for v in values], marker="o", label=label)
        for ax in (heap_ax, blocks_ax):
            ax.axvspan(0, warmups * per_round, color="grey", alpha=0.12, lw=0)
    heap_ax.set_ylabel("host live Go heap after GC, KiB (vs end of warm-up)")
    blocks_ax.set_ylabel("plugin allocated blocks after GC (vs end of warm-up)")
    for ax in (heap_ax, blocks_ax):
        ax.set_xlabel("requests (shaded: warm-up rounds)")
    heap_ax.legend(loc="best", fontsize="small")
    fig.suptitle("Leak soak: the runtimes' own heaps after each round")
    return save_plot(plt, fig, blocks_ax, path)
