"""`python -m bench history [RESULTS_DIR]`: the trend across runs.

Reads every run folder under RESULTS_DIR (`<run>/summary.json`), the committed
baselines (`baseline/*/summary.json`) and the series kept from earlier calls
(`history/history.json`, so points of runs whose folders are gone, e.g. earlier
nightly jobs, stay), and writes into RESULTS_DIR/history/:

- history.json: one point per run (time, profile, mode, commit, Go, figures);
- history.md: tables of the key figures per run over time;
- history_<section>.png: the same figures plotted over time.

Key figures: the bridge's throughput as a ratio to Go direct, uvicorn and the Go
plugin at the largest size, its distance to the floor (CPU per GiB against the
gRPC pair and the two hops), peak memory per process (RSS and container), leak
figures and failed verdicts, and capacity (highest concurrency that held) from
capacity runs. Run summaries are read into their records
(bench/results/run.py), which read every version: a figure an older run lacks is
a missing value, never an error.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.core.numbers import median
from bench.core.targets import GO_DIRECT, GO_PLUGIN, PYTHON_DIRECT
from bench.core.units import MiB
from bench.judge.references import headline
from bench.results.ab import ABRun
from bench.results.format import AB_KIND, CAPACITY_KIND
from bench.results.run import RunSummary

log = logging.getLogger(__name__)

HISTORY_DIR = "history"
SERIES_FILE = "history.json"
RATIO_REFERENCES = (GO_DIRECT, PYTHON_DIRECT, GO_PLUGIN)


@dataclass
class RunPoint:
    """One run on the trend."""

    run_id: str
    created_utc: str
    profile: str
    mode: str
    kind: str  # "run" (bench run), "sweep" or "capacity"
    commit: str | None
    go: str | None
    source: str  # folder it was read from, or "history.json" when only kept there
    baseline: str | None = None  # baseline folder name when it is a committed baseline
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def series(self) -> str:
        """Runs are comparable within one series: same kind, mode and profile."""
        return f"{self.kind}:{self.mode}-{self.profile}"


# Sections: title, figure-name prefix, unit shown in the table.
SECTIONS = (
    ("throughput", "Bridge throughput as a ratio to the references", "ratio "),
    ("floor", "Bridge CPU per GiB as a multiple of its floor and of the two hops", "floor "),
    ("memory", "Peak memory per process (MiB)", "peak "),
    ("leak", "Leak figures (growth per request; older runs: RSS slope)", "leak "),
    ("failed", "Failed verdicts", "failed "),
    ("capacity", "Capacity (most concurrent streams that held)", "capacity "),
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def throughput_ratios(summary: RunSummary) -> dict[str, float]:
    """`ratio <kind> / <reference>` at the largest size per kind (default chunk preferred)."""
    out = {}
    for kind, ref in headline(summary.references).items():
        for target in RATIO_REFERENCES:
            if target in ref.bridge_ratio_to:
                out[f"ratio {kind} / {target}"] = ref.bridge_ratio_to[target]
    return out


def floor_figures(summary: RunSummary) -> dict[str, float]:
    """`floor <kind> <side> x floor` and `... x two hops` (bridge CPU per GiB over the
    gRPC floor's, over the two hops') at the largest size per kind."""
    out = {}
    for kind, row in headline(summary.floors).items():
        for side, distance in row.sides().items():
            if distance.ratio_to_floor is not None:
                out[f"floor {kind} {side} x floor"] = distance.ratio_to_floor
            if distance.ratio_to_two_hops is not None:
                out[f"floor {kind} {side} x two hops"] = distance.ratio_to_two_hops
    return out


def peak_memory(summary: RunSummary) -> dict[str, float]:
    """`peak <process> RSS` over all scenarios and `peak <service> container` in MiB."""
    out: dict[str, float] = {}
    for row in summary.scenarios:
        for process, peak in row.peak_rss_bytes.items():
            if process in ("host", "plugin"):
                name = f"peak {process} RSS"
                out[name] = max(out.get(name, 0.0), peak / MiB)
    for figure in summary.containers.values():
        if figure.service:
            name = f"peak {figure.service} container"
            out[name] = max(out.get(name, 0.0), figure.peak_bytes / MiB)
    return out


def leak_figures(summary: RunSummary) -> dict[str, float]:
    """Worst growth per request of each leak counter (older runs: the RSS slope per
    process), failed leak verdicts, failed verdicts."""
    out: dict[str, float] = {}
    for verdict in summary.verdicts:
        figures = verdict.figures
        growth = _number(figures.get("growth_per_request"))
        counter = figures.get("counter")
        if growth is not None and isinstance(counter, str):
            name = f"leak {counter} /request"
            out[name] = max(out.get(name, growth), growth)
        slope = _number(figures.get("slope_bytes_per_request"))
        process = figures.get("process")
        if slope is not None and isinstance(process, str):
            name = f"leak {process} B/request"
            out[name] = max(out.get(name, slope), slope)
    if summary.verdicts:
        failed = [v.name for v in summary.failed_verdicts()]
        out["failed leak verdicts"] = float(sum(1 for name in failed if name.startswith("leak")))
        out["failed verdicts (all)"] = float(len(failed))
    return out


def capacity_figures(summary: Mapping[str, Any]) -> dict[str, float]:
    """`capacity <target>/<kind>` from a capacity run's ramps (read from each ramp's key
    and capacity alone, so a ramp of any version counts)."""
    out: dict[str, float] = {}
    for ramp in _list(summary.get("ramps")):
        ramp = _mapping(ramp)
        key, value = ramp.get("key"), _number(ramp.get("capacity"))
        if isinstance(key, str) and value is not None:
            out[f"capacity {key}"] = value
    return out


def ab_figures(summary: Mapping[str, Any]) -> dict[str, float]:
    """`ratio <target> / <reference>`: the median of the rounds' ratios of an A/B run."""
    try:
        run = ABRun.from_json(dict(summary))
    except (KeyError, TypeError, ValueError):
        return {}
    out = {}
    for target in run.targets:
        ratios = run.ratios(target.name)
        if target.name != run.reference and ratios:
            out[f"ratio {run.scenario} {target.name} / {run.reference}"] = median(ratios)
    return out


def _created(summary: Mapping[str, Any], run_id: str, path: Path) -> str:
    created = summary.get("created_utc")
    if isinstance(created, str):
        try:
            stamp = dt.datetime.fromisoformat(created).astimezone(dt.UTC)
            return stamp.isoformat(timespec="seconds")
        except ValueError:
            pass
    try:
        stamp = dt.datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return stamp.isoformat(timespec="seconds")


def read_point(summary_path: Path, baseline: str | None = None) -> RunPoint | None:
    """The trend point of one summary.json, or None (logged) when it is not one."""
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("history: skipping %s: %s", summary_path, exc)
        return None
    if not isinstance(summary, Mapping):
        log.warning("history: skipping %s: not a JSON object", summary_path)
        return None
    env = _mapping(summary.get("environment"))
    run_id = str(summary.get("run_id") or summary_path.parent.name)
    if summary.get("kind") == CAPACITY_KIND:
        kind, figures = "capacity", capacity_figures(summary)
    elif summary.get("kind") == AB_KIND:
        kind, figures = "ab", ab_figures(summary)
    else:
        kind = "sweep" if (summary_path.parent / "sweep.md").is_file() else "run"
        run = RunSummary.from_json(dict(summary), str(summary_path))
        figures = {
            **throughput_ratios(run),
            **floor_figures(run),
            **peak_memory(run),
            **leak_figures(run),
        }
    commit = env.get("git_commit")
    go = env.get("host_go_version") or env.get("go")
    go = _go_version(go) if isinstance(go, str) else None
    return RunPoint(
        run_id=run_id,
        created_utc=_created(summary, run_id, summary_path),
        profile=str(summary.get("profile") or "?"),
        mode=str(env.get("mode") or "?"),
        kind=kind,
        commit=commit if isinstance(commit, str) else None,
        go=go,
        source=str(summary_path.parent),
        baseline=baseline,
        figures=figures,
    )


def collect(results_dir: Path, baselines_dir: Path | None = None) -> list[RunPoint]:
    """Every run under results_dir, the baselines and the kept series, oldest first.

    A run seen twice (its folder and a baseline copied from it, or its folder and
    the kept series) is one point: the folder wins, and the baseline name sticks."""
    baselines_dir = baselines_dir or results_dir / "baseline"
    points: dict[str, RunPoint] = {}
    kept = results_dir / HISTORY_DIR / SERIES_FILE
    for point in load_series(kept):
        points[point.run_id] = point
    if baselines_dir.is_dir():
        for path in sorted(baselines_dir.glob("*/summary.json")):
            point = read_point(path, baseline=path.parent.name)
            if point is not None:
                points[point.run_id] = point
    if results_dir.is_dir():
        for path in sorted(results_dir.glob("*/summary.json")):
            point = read_point(path)
            if point is not None:
                earlier = points.get(point.run_id)
                point.baseline = earlier.baseline if earlier else None
                points[point.run_id] = point
    return sorted(points.values(), key=lambda p: (p.created_utc, p.run_id))


def load_series(path: Path) -> list[RunPoint]:
    if not path.is_file():
        return []
    try:
        raw = json.loads(path.read_text())
        return [RunPoint(**{**p, "source": p.get("source") or SERIES_FILE}) for p in raw["points"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("history: ignoring the kept series %s: %s", path, exc)
        return []


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if abs(value) < 10 and not value.is_integer() else f"{value:.0f}"


def _go_version(text: str | None) -> str | None:
    """`go version go1.26.8 linux/amd64` or `go1.26.8` -> `go1.26.8`."""
    if not text:
        return None
    found = re.search(r"go\d+(\.\d+)*\S*", text)
    return found.group(0) if found else text


def markdown(points: list[RunPoint]) -> str:
    out = [
        "# streambench history",
        "",
        f"{len(points)} runs, oldest first. A series is one kind, mode and profile "
        "(`run:external-full` is the nightly job); compare within a series.",
    ]
    for _, title, prefix in SECTIONS:
        names = sorted({n for p in points for n in p.figures if n.startswith(prefix)})
        rows = [p for p in points if any(n in p.figures for n in names)]
        if not names or not rows:
            continue
        header = ["run (UTC)", "series", "commit", "go", *(n.removeprefix(prefix) for n in names)]
        out += ["", f"## {title}", "", "| " + " | ".join(header) + " |"]
        out.append("|" + " --- |" * len(header))
        for p in rows:
            label = p.created_utc.replace("+00:00", "").replace("T", " ")
            if p.baseline:
                label += f" (baseline {p.baseline})"
            cells = [label, p.series, (p.commit or "-")[:12], p.go or "-"]
            cells += [_fmt(p.figures.get(n)) for n in names]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def plot_section(points: list[RunPoint], prefix: str, title: str, path: Path) -> Path | None:
    """One line per (series, figure) over time; None when no run has the section."""
    lines: dict[str, list[tuple[dt.datetime, float]]] = {}
    for p in points:
        when = dt.datetime.fromisoformat(p.created_utc)
        for name, value in p.figures.items():
            if name.startswith(prefix):
                label = f"{name.removeprefix(prefix)} [{p.series}]"
                lines.setdefault(label, []).append((when, value))
    if not lines:
        return None
    from bench.report.plots import pyplot, save_plot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(12, 5))
    for label, values in sorted(lines.items()):
        ax.plot([t for t, _ in values], [v for _, v in values], marker="o", lw=1, label=label)
    ax.set_title(title)
    ax.set_xlabel("run time (UTC)")
    fig.autofmt_xdate()
    return save_plot(plt, fig, ax, path)


def write_history(points: list[RunPoint], out_dir: Path) -> list[Path]:
    """history.json (the kept series), history.md and one PNG per section."""
    out_dir.mkdir(parents=True, exist_ok=True)
    series = out_dir / SERIES_FILE
    series.write_text(json.dumps({"points": [asdict(p) for p in points]}, indent=2) + "\n")
    md = out_dir / "history.md"
    md.write_text(markdown(points))
    written = [series, md]
    for key, title, prefix in SECTIONS:
        png = plot_section(points, prefix, title, out_dir / f"history_{key}.png")
        if png is not None:
            written.append(png)
    return written


def run(results_dir: Path, out_dir: Path | None = None, baselines_dir: Path | None = None) -> int:
    """`bench history`: exit 0 with the files written, 2 when there is nothing to read."""
    points = collect(results_dir, baselines_dir)
    if not points:
        print(f"bench history: no run folders (*/summary.json) under {results_dir}")
        return 2
    written = write_history(points, out_dir or results_dir / HISTORY_DIR)
    print(f"history of {len(points)} runs written: {', '.join(str(p) for p in written)}")
    return 0


def add_parser(subparsers: Any, default_results: Path) -> None:
    """Registers `history` on the bench CLI."""
    p = subparsers.add_parser(
        "history", help="trend of every run under RESULTS_DIR -> RESULTS_DIR/history/"
    )
    p.add_argument("results_dir", nargs="?", default=str(default_results))
    p.add_argument("--out", help="output folder (default RESULTS_DIR/history)")
    p.add_argument("--baselines", help="baseline folders (default RESULTS_DIR/baseline)")
    p.set_defaults(
        func=lambda args: run(
            Path(args.results_dir),
            Path(args.out) if args.out else None,
            Path(args.baselines) if args.baselines else None,
        )
    )
