"""Reports: summary.json (versioned), summary.md (tables + verdicts) and PNG plots.

Separate from scenarios and samplers: everything here works on finished results,
so it can be tested with synthetic data.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bench.judge import assess
from bench.judge.verdicts import Verdict, round_deltas
from bench.observe.samplers import StatsClient, Timeline, window_delta
from bench.runner.stack import HOSTSTUB_BIN, REPO_ROOT
from bench.scenarios.base import ScenarioResult
from bench.scenarios.profiles import human_size

SCHEMA_VERSION = 1
MiB = 1024 * 1024
GiB = 1024 * MiB
CPU_FIGURE_MIN_BYTES = 64 * MiB


def utc_stamp(now: dt.datetime | None = None) -> str:
    """Folder name of a run: 20250101T120000Z (sortable, no colons)."""
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")


def _command_output(args: list[str], cwd: Path = REPO_ROOT) -> str | None:
    try:
        out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def environment(chunk_sizes: Iterable[int], mode: str) -> dict[str, Any]:
    """Versions, CPU count, chunk settings, git commit: what a figure depends on."""
    import grpc
    import psutil

    # Containers have no .git: the commit comes in as STREAMBENCH_COMMIT there.
    commit = os.environ.get("STREAMBENCH_COMMIT") or _command_output(["git", "rev-parse", "HEAD"])
    dirty = _command_output(["git", "status", "--porcelain"])
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_total_bytes": psutil.virtual_memory().total,
        "go": _command_output(["go", "version"]),
        "hoststub_bin": str(HOSTSTUB_BIN) if HOSTSTUB_BIN.exists() else None,
        "grpcio": grpc.__version__,
        "psutil": psutil.__version__,
        "git_commit": commit,
        "git_dirty": bool(dirty) if dirty is not None else None,
        "chunk_sizes": list(chunk_sizes),
        "mode": mode,
        "hostname": platform.node(),
    }


def host_build(stats_url: str | None) -> dict[str, Any]:
    """What the running host says it was built with (/debug/stats `host.go_version`):
    the Go that matters, also where no `go` command is installed (compose)."""
    if not stats_url:
        return {}
    client = StatsClient(stats_url)
    try:
        host = client.fetch().get("host", {})
    except (OSError, ValueError):
        return {}
    finally:
        client.close()
    version = host.get("go_version") if isinstance(host, Mapping) else None
    return {"host_go_version": version} if isinstance(version, str) else {}


def scenario_row(result: ScenarioResult, timeline: Timeline) -> dict[str, Any]:
    sc = result.scenario
    figures = assess.memory_figures(result, timeline)
    extra = {k: v for k, v in result.extra.items() if k != "completions"}
    return {
        "id": sc.id,
        "kind": sc.kind,
        "target": sc.target,
        "direction": sc.direction,
        "size_bytes": sc.size,
        "chunk_bytes": sc.chunk,
        "concurrency": sc.concurrency,
        "requests": sc.requests,
        "ok": result.ok,
        "error": result.error,
        "seconds": result.seconds,
        "bytes": result.bytes,
        "throughput_mb_s": result.throughput_mb_s,
        "latency_ms": result.latency_ms(),
        "rss_growth_bytes": {
            n: f.growth_bytes for n, f in figures.items() if f.source != "container"
        },
        "peak_rss_bytes": {n: f.peak_bytes for n, f in figures.items() if f.source != "container"},
        "memory_source": {n: f.source for n, f in figures.items()},
        "samples": {n: f.samples for n, f in figures.items()},
        "container_peak_bytes": {
            n.removeprefix("container:"): f.peak_bytes
            for n, f in figures.items()
            if f.source == "container"
        },
        "window_s": (
            [result.window.start, result.window.end] if result.window is not None else None
        ),
        "cpu_seconds_per_gib": cpu_seconds_per_gib(result, timeline),
        "extra": extra,
    }


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


def build_summary(
    *,
    profile: str,
    mode: str,
    chunk_sizes: list[int],
    results: list[ScenarioResult],
    timeline: Timeline,
    verdicts: list[Verdict],
    steps: Mapping[str, Any] | None = None,
    containers: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    env: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    rows = [scenario_row(r, timeline) for r in results]
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id or utc_stamp(),
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "environment": dict(env) if env is not None else environment(chunk_sizes, mode),
        "scenarios": rows,
        "references": assess.reference_ratios(rows),
        "verdicts": [v.to_dict() for v in verdicts],
        "verdicts_passed": all(v.passed for v in verdicts),
        "steps": dict(steps or {}),
        "containers": dict(containers or {}),
        "sampler": {
            "samples": len(timeline.samples),
            "sources": timeline.sources(),
            "errors": timeline.errors[:20],
            "error_count": len(timeline.errors),
        },
    }


# -- markdown ------------------------------------------------------------------


def _fmt_mib(n: float | None) -> str:
    return "-" if n is None else f"{n / MiB:.1f}"


def _fmt(n: float | None, spec: str = ".0f") -> str:
    return "-" if n is None else format(n, spec)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


_METRIC_LABELS = {"p50_ms": "p50 ms", "p99_ms": "p99 ms", "rss_growth_bytes": "RSS growth MiB"}


def _reference_metrics_markdown(references: list[Mapping[str, Any]], targets: list[str]) -> str:
    """Latency and RSS growth of the same transfers; bridge / reference (lower is better)."""
    rows = []
    for r in references:
        transfer = f"{r['kind']} {human_size(r['size_bytes'])} c{human_size(r['chunk_bytes'])}"
        for metric, label in _METRIC_LABELS.items():
            figures = r.get("metrics", {}).get(metric)
            if not figures:
                continue
            if metric == "rss_growth_bytes":
                cells = [_fmt_mib(figures.get(t)) for t in targets]
            else:
                cells = [_fmt(figures.get(t), ".2f") for t in targets]
            ratios = r.get("metric_ratios", {}).get(metric, {})
            rows.append(
                [
                    transfer,
                    label,
                    *cells,
                    ", ".join(f"{t} {ratio:.2f}x" for t, ratio in ratios.items()) or "-",
                ]
            )
    return md_table(["transfer", "figure", *targets, "bridge / reference"], rows)


def _go_text(env: Mapping[str, Any]) -> str:
    if env.get("host_go_version"):
        return f"host built with {env['host_go_version']}"
    return str(env.get("go") or "go ?")


# Counters shown in the leak soak's rounds table, in this order (all that the stats have).
LEAK_TABLE_COUNTERS = (
    "host.heap_live_bytes",
    "host.heap_objects",
    "host.goroutines",
    "host.open_fds",
    "host.rss_bytes",
    "plugin.allocated_blocks",
    "plugin.gc_objects",
    "plugin.asyncio_tasks",
    "plugin.open_fds",
    "plugin.threads",
    "plugin.rss_bytes",
)


def _leak_rounds_markdown(summary: Mapping[str, Any]) -> list[str]:
    """Per soak: each counter's growth in every round (warm-up rounds marked w)."""
    verdict_of = {v["name"]: v for v in summary["verdicts"]}
    out = []
    for s in summary["scenarios"]:
        rounds = (s.get("extra") or {}).get("leak_rounds")
        if not rounds:
            continue
        readings = rounds["readings"]  # before the soak, then after each round
        warmups = rounds["warmup_rounds"]
        names = [f"w{i + 1}" for i in range(warmups)]
        names += [str(i + 1) for i in range(len(readings) - 1 - warmups)]
        rows = []
        for key in LEAK_TABLE_COUNTERS:
            values = [r.get(key) for r in readings]
            if any(v is None for v in values):
                continue
            verdict = verdict_of.get(f"leak/{key}/c{s['chunk_bytes']}") or verdict_of.get(
                f"leak-rss/{key.split('.')[0]}/c{s['chunk_bytes']}"
                if key.endswith("rss_bytes")
                else ""
            )
            figures = (verdict or {}).get("figures") or {}
            per_request = figures.get("growth_per_request")
            limit = figures.get("limit_per_request", figures.get("limit_bytes"))
            rows.append(
                [
                    key,
                    *[f"{d:+.0f}" for d in round_deltas(values)],
                    _fmt(per_request, "+.3g"),
                    _fmt(limit, ".3g"),
                    "-" if verdict is None else "pass" if verdict["passed"] else "**FAIL**",
                ]
            )
        out += [
            f"{s['id']}: {rounds['round_requests']} mixed requests per round; growth in each "
            "round after a forced GC on both sides (w: warm-up, not judged); a counter leaks "
            "when every measured round grew and its growth per request is over the limit "
            "(RSS: growth over the measured rounds, limit in bytes).",
            "",
            md_table(["counter", *names, "/request", "limit", "verdict"], rows),
            "",
        ]
    return out


def summary_markdown(summary: Mapping[str, Any]) -> str:
    env = summary["environment"]
    out = [
        f"# streambench run {summary['run_id']} ({summary['profile']} profile)",
        "",
        f"{env.get('cpu_count')} CPUs, Python {env.get('python')}, "
        f"{_go_text(env)}, commit {str(env.get('git_commit'))[:12]}"
        f"{' (dirty)' if env.get('git_dirty') else ''}, chunk sizes "
        f"{', '.join(human_size(c) for c in env.get('chunk_sizes', []))}, mode {env.get('mode')}.",
        "",
        "## Verdicts",
        "",
        f"**{'ALL PASSED' if summary['verdicts_passed'] else 'SOME FAILED'}**",
        "",
        md_table(
            ["verdict", "result", "figures"],
            [
                [v["name"], "pass" if v["passed"] else "**FAIL**", v["summary"]]
                for v in summary["verdicts"]
            ],
        ),
        "",
        "## Scenarios",
        "",
        "Throughput in MB/s (10^6 B/s); RSS growth = peak during the scenario minus the value "
        "at its start, in MiB.",
        "",
    ]
    rows = []
    for s in summary["scenarios"]:
        growth = s["rss_growth_bytes"]
        lat = s.get("latency_ms") or {}
        rows.append(
            [
                s["id"],
                "ok" if s["ok"] else f"**FAILED** {s['error']}",
                _fmt(s.get("throughput_mb_s")),
                _fmt(lat.get("p50"), ".2f"),
                _fmt(lat.get("p99"), ".2f"),
                ", ".join(f"{n} {v:.2f}" for n, v in s.get("cpu_seconds_per_gib", {}).items())
                or "-",
                ", ".join(f"{n} {_fmt_mib(v)}" for n, v in growth.items()),
                ", ".join(
                    f"{n} {_fmt_mib(v)}" for n, v in s.get("container_peak_bytes", {}).items()
                )
                or "-",
            ]
        )
    out.append(
        md_table(
            [
                "scenario",
                "status",
                "MB/s",
                "p50 ms",
                "p99 ms",
                "CPU s/GiB",
                "RSS growth MiB",
                "container peak MiB",
            ],
            rows,
        )
    )
    leak_tables = _leak_rounds_markdown(summary)
    if leak_tables:
        out += ["", "## Leak soak rounds", "", *leak_tables]
    rps_rows = [s for s in summary["scenarios"] if s["kind"] == "rps"]
    if rps_rows:
        out += ["", "## Small-request throughput", "", rps_markdown(rps_rows)]
    if summary["references"]:
        out += ["", "## References side by side", ""]
        targets = sorted({t for r in summary["references"] for t in r["values"]})
        ref_rows = []
        for r in summary["references"]:
            ref_rows.append(
                [
                    f"{r['kind']} {human_size(r['size_bytes'])} c{human_size(r['chunk_bytes'])}",
                    r["unit"],
                    *[_fmt(r["values"].get(t)) for t in targets],
                    ", ".join(f"{t} {ratio:.2f}x" for t, ratio in r["bridge_ratio_to"].items()),
                ]
            )
        out.append(md_table(["transfer", "unit", *targets, "bridge vs"], ref_rows))
        out += ["", _reference_metrics_markdown(summary["references"], targets)]
    if summary.get("sweep"):
        out += ["", "## Chunk-size sweep", "", sweep_markdown(summary["sweep"])]
    if summary["steps"]:
        out += ["", "## Other tools", ""]
        for name, step in summary["steps"].items():
            out.append(f"- {name}: {step.get('status')}; {step.get('detail', '')}")
    if summary["containers"]:
        out += ["", "## Containers", ""]
        for name, c in summary["containers"].items():
            out.append(
                f"- {name}: peak {_fmt_mib(c.get('peak_bytes'))} MiB of "
                f"{_fmt_mib(c.get('limit_bytes'))} MiB, OOM killed: {c.get('oom_killed')}"
            )
    errors = summary["sampler"]["error_count"]
    out += ["", f"Sampler: {summary['sampler']['samples']} samples, {errors} errors."]
    return "\n".join(out) + "\n"


def rps_markdown(rows: list[Mapping[str, Any]]) -> str:
    """One line per `rps` scenario: req/s, latency, CPU per request, the generator's own CPU."""
    out = []
    for s in rows:
        extra = s.get("extra") or {}
        lat = s.get("latency_ms") or {}
        cpu = extra.get("cpu_us_per_request") or {}
        out.append(
            [
                s["id"],
                "ok" if s["ok"] else f"**FAILED** {s['error']}",
                _fmt(extra.get("requests_per_s")),
                _fmt(lat.get("p50"), ".2f"),
                _fmt(lat.get("p99"), ".2f"),
                ", ".join(f"{n} {v:.0f}" for n, v in cpu.items()) or "-",
                f"{extra.get('generator', '-')} {_fmt(extra.get('client_cpu_cores'), '.2f')}",
            ]
        )
    return md_table(
        ["scenario", "status", "req/s", "p50 ms", "p99 ms", "CPU us/request", "generator, cores"],
        out,
    )


# -- sweep -----------------------------------------------------------------------


def sweep_table(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (chunk, kind): bridge and go-direct MB/s, their ratio, RSS growth."""
    transfers = [s for s in rows if s["kind"] in ("download", "upload") and s["ok"]]
    # The largest size per (chunk, kind) only: mixing sizes would pair one
    # size's label with another's figures.
    largest: dict[tuple[int, str], int] = {}
    for s in transfers:
        key = (s["chunk_bytes"], s["kind"])
        largest[key] = max(largest.get(key, 0), s["size_bytes"])
    table: dict[tuple[int, str], dict[str, Any]] = {}
    for s in transfers:
        if s["size_bytes"] != largest[(s["chunk_bytes"], s["kind"])]:
            continue
        row = table.setdefault(
            (s["chunk_bytes"], s["kind"]),
            {"chunk_bytes": s["chunk_bytes"], "kind": s["kind"], "size_bytes": s["size_bytes"]},
        )
        row[f"{s['target']}_mb_s"] = s["throughput_mb_s"]
        if s["target"] == "bridge":
            for proc in ("host", "plugin"):
                row[f"{proc}_rss_growth_bytes"] = s["rss_growth_bytes"].get(proc)
                row[f"{proc}_cpu_s_per_gib"] = s.get("cpu_seconds_per_gib", {}).get(proc)
    out = []
    for key in sorted(table):
        row = table[key]
        bridge, direct = row.get("bridge_mb_s"), row.get("go-direct_mb_s")
        row["bridge_vs_go_direct"] = bridge / direct if bridge and direct else None
        out.append(row)
    return out


def sweep_markdown(table: list[Mapping[str, Any]]) -> str:
    return md_table(
        [
            "chunk",
            "kind",
            "size",
            "bridge MB/s",
            "go-direct MB/s",
            "ratio",
            "host CPU s/GiB",
            "plugin CPU s/GiB",
            "host MiB",
            "plugin MiB",
        ],
        [
            [
                human_size(r["chunk_bytes"]),
                r["kind"],
                human_size(r["size_bytes"]),
                _fmt(r.get("bridge_mb_s")),
                _fmt(r.get("go-direct_mb_s")),
                _fmt(r.get("bridge_vs_go_direct"), ".2f"),
                _fmt(r.get("host_cpu_s_per_gib"), ".2f"),
                _fmt(r.get("plugin_cpu_s_per_gib"), ".2f"),
                _fmt_mib(r.get("host_rss_growth_bytes")),
                _fmt_mib(r.get("plugin_rss_growth_bytes")),
            ]
            for r in table
        ],
    )


# -- plots ----------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_plot(plt: Any, fig: Any, ax: Any, path: Path, legend_loc: str = "best") -> Path:
    """Every plot ends the same way: legend, tight layout, PNG at 100 dpi, figure freed."""
    ax.legend(loc=legend_loc, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_rss_over_time(timeline: Timeline, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 5))
    for source in timeline.sources():
        if source in ("stats",) or source.startswith("container:"):
            continue
        points = timeline.series(source, "rss_bytes")
        if points:
            ax.plot([t for t, _ in points], [v / MiB for _, v in points], label=source, lw=1)
    if not any(timeline.series(s, "rss_bytes") for s in timeline.sources() if s != "stats"):
        for name, key in assess.STATS_PROCESSES.items():
            points = timeline.series("stats", key)
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
    return _save_plot(plt, fig, ax, path, legend_loc="upper left")


def plot_references(summary: Mapping[str, Any], path: Path) -> Path | None:
    refs = [r for r in summary["references"] if r["unit"] == "MB/s"]
    if not refs:
        return None
    plt = _pyplot()
    targets = sorted({t for r in refs for t in r["values"]})
    fig, ax = plt.subplots(figsize=(max(6, len(refs) * 1.6), 4.5))
    width = 0.8 / len(targets)
    for i, target in enumerate(targets):
        xs = [j + i * width for j in range(len(refs))]
        ax.bar(xs, [r["values"].get(target, 0) for r in refs], width, label=target)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(refs))])
    ax.set_xticklabels(
        [
            f"{r['kind']}\n{human_size(r['size_bytes'])} c{human_size(r['chunk_bytes'])}"
            for r in refs
        ],
        fontsize="small",
    )
    ax.set_ylabel("MB/s")
    ax.set_title("Throughput: bridge and references side by side")
    return _save_plot(plt, fig, ax, path)


def plot_throughput_vs_chunk(rows: list[Mapping[str, Any]], path: Path) -> Path | None:
    lines: dict[tuple[str, str, int], list[tuple[int, float]]] = {}
    for s in rows:
        if s["kind"] in ("download", "upload") and s["ok"] and s.get("throughput_mb_s"):
            key = (s["kind"], s["target"], s["size_bytes"])
            lines.setdefault(key, []).append((s["chunk_bytes"], s["throughput_mb_s"]))
    lines = {k: sorted(v) for k, v in lines.items() if len({c for c, _ in v}) > 1}
    if not lines:
        return None
    plt = _pyplot()
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
    return _save_plot(plt, fig, ax, path)


def plot_leak(results: list[ScenarioResult], path: Path) -> Path | None:
    """Growth of the Go live heap and of Python's allocated blocks over the soak's rounds."""
    soaks = [r for r in results if r.scenario.kind == "soak" and r.extra.get("leak_rounds")]
    if not soaks:
        return None
    plt = _pyplot()
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
    return _save_plot(plt, fig, blocks_ax, path)


def write_run(
    run_dir: Path,
    summary: dict[str, Any],
    timeline: Timeline,
    results: list[ScenarioResult],
) -> list[Path]:
    """Write summary.json, summary.md, timeline.json and the plots into run_dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    written = [
        p
        for p in (
            plot_rss_over_time(timeline, run_dir / "rss_over_time.png"),
            plot_references(summary, run_dir / "references.png"),
            plot_throughput_vs_chunk(summary["scenarios"], run_dir / "throughput_vs_chunk.png"),
            plot_leak(results, run_dir / "leak_soak.png"),
        )
        if p is not None
    ]
    timeline_path = run_dir / "timeline.json"
    timeline_path.write_text(
        json.dumps(
            {
                "windows": [[w.name, w.start, w.end] for w in timeline.windows],
                "samples": [[s.t, s.source, dict(s.values)] for s in timeline.samples],
            }
        )
    )
    written.append(timeline_path)
    summary["files"] = sorted(
        {p.name for p in written}
        | {"summary.json", "summary.md"}
        | {p.name for p in run_dir.iterdir() if p.is_file()}
    )
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (run_dir / "summary.md").write_text(summary_markdown(summary))
    return [run_dir / "summary.json", run_dir / "summary.md", *written]


def baseline_name(summary: Mapping[str, Any]) -> str:
    """`<mode>-<profile>`, e.g. `spawned-quick` or `external-full` (compose).

    Runs are only comparable with a baseline of the same mode and profile, so
    each pair has its own folder under results/baseline/.
    """
    mode = summary.get("environment", {}).get("mode", "spawned")
    kind = "capacity-" if summary.get("kind") == "capacity" else ""  # `bench capacity` runs
    return f"{kind}{mode}-{summary.get('profile', 'quick')}"


def copy_baseline(run_dir: Path, baseline_root: Path, name: str | None = None) -> Path:
    """`bench baseline RUN_DIR`: the run's summary becomes results/baseline/<name>/."""
    source = run_dir / "summary.json"
    if not source.is_file():
        raise FileNotFoundError(f"{source} not found: is {run_dir} a bench run folder?")
    data = json.loads(source.read_text())
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{source}: schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}"
        )
    baseline_dir = baseline_root / (name or baseline_name(data))
    baseline_dir.mkdir(parents=True, exist_ok=True)
    target = baseline_dir / "summary.json"
    shutil.copyfile(source, target)
    if (run_dir / "summary.md").is_file():
        shutil.copyfile(run_dir / "summary.md", baseline_dir / "summary.md")
    return target
