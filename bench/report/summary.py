"""The run folder: summary.json (a RunSummary), summary.md, timeline.json, the plots.

Everything here works on finished results, so it can be tested with synthetic data.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path

from bench.judge.references import floors, reference_ratios
from bench.observe.samplers import Timeline
from bench.report.markdown import summary_markdown
from bench.report.plots import (
    plot_floors,
    plot_leak,
    plot_references,
    plot_rss_over_time,
    plot_throughput_vs_chunk,
)
from bench.report.rows import scenario_row, sweep_table
from bench.results.containers import ContainerFigures
from bench.results.environment import Environment
from bench.results.format import write_json
from bench.results.run import RunSummary, SamplerInfo, ToolStep
from bench.results.verdict import Verdict
from bench.scenarios.base import ScenarioResult


def utc_stamp(now: dt.datetime | None = None) -> str:
    """Folder name of a run: 20250101T120000Z (sortable, no colons)."""
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def build_summary(
    *,
    profile: str,
    environment: Environment,
    results: list[ScenarioResult],
    timeline: Timeline,
    verdicts: list[Verdict],
    steps: Mapping[str, ToolStep] | None = None,
    containers: Mapping[str, ContainerFigures] | None = None,
    run_id: str | None = None,
    sweep: bool = False,
) -> RunSummary:
    """The run's summary; with `sweep`, the chunk-size table as well."""
    rows = [scenario_row(r, timeline) for r in results]
    return RunSummary(
        run_id=run_id or utc_stamp(),
        created_utc=utc_now(),
        profile=profile,
        environment=environment,
        scenarios=rows,
        references=reference_ratios(rows),
        floors=floors(rows),
        verdicts=verdicts,
        steps=dict(steps or {}),
        containers=dict(containers or {}),
        sampler=SamplerInfo(
            samples=len(timeline.samples),
            sources=timeline.sources(),
            errors=timeline.errors[:20],
            error_count=len(timeline.errors),
        ),
        sweep=sweep_table(rows) if sweep else None,
    )


def write_summary(run_dir: Path, summary: RunSummary) -> None:
    """summary.json and summary.md from the record."""
    write_json(run_dir / "summary.json", summary.to_json())
    (run_dir / "summary.md").write_text(summary_markdown(summary))


def write_run(
    run_dir: Path, summary: RunSummary, timeline: Timeline, results: list[ScenarioResult]
) -> list[Path]:
    """Write summary.json, summary.md, timeline.json and the plots into run_dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    written = [
        p
        for p in (
            plot_rss_over_time(timeline, run_dir / "rss_over_time.png"),
            plot_references(summary, run_dir / "references.png"),
            plot_floors(summary, run_dir / "floors.png"),
            plot_throughput_vs_chunk(summary.scenarios, run_dir / "throughput_vs_chunk.png"),
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
    summary.files = sorted(
        {p.name for p in written}
        | {"summary.json", "summary.md"}
        | {p.name for p in run_dir.iterdir() if p.is_file()}
    )
    write_summary(run_dir, summary)
    return [run_dir / "summary.json", run_dir / "summary.md", *written]
