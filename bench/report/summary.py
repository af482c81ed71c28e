"""summary.json (versioned) and the run folder: the summary, summary.md, timeline.json, plots.

Everything here works on finished results, so it can be tested with synthetic data.
The figures are built as typed rows (bench/report/rows.py) and become JSON here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.judge import assess
from bench.judge.verdicts import Verdict
from bench.observe.samplers import Timeline
from bench.report.environment import environment
from bench.report.markdown import summary_markdown
from bench.report.plots import (
    plot_leak,
    plot_references,
    plot_rss_over_time,
    plot_throughput_vs_chunk,
)
from bench.report.rows import scenario_row, sweep_table
from bench.scenarios.base import ScenarioResult

SCHEMA_VERSION = 1


def utc_stamp(now: dt.datetime | None = None) -> str:
    """Folder name of a run: 20250101T120000Z (sortable, no colons)."""
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")


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
    sweep: bool = False,
) -> dict[str, Any]:
    """The summary.json document; with `sweep`, the chunk-size table as well."""
    rows = [scenario_row(r, timeline) for r in results]
    scenarios = [row.to_dict() for row in rows]
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id or utc_stamp(),
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "environment": dict(env) if env is not None else environment(chunk_sizes, mode),
        "scenarios": scenarios,
        "references": assess.reference_ratios(scenarios),
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
    if sweep:
        summary["sweep"] = [row.to_dict() for row in sweep_table(rows)]
    return summary


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
