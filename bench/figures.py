"""`python -m bench report`: the figures page, made from the committed baselines.

Every figure the README and docs quote comes from a run of the bench: the
committed baselines (results/baseline/<name>/summary.json) are those runs, and
this command renders them into docs/figures.md and into the marked block on
README's first screen. `--check` (run by the tests) fails when either differs
from what the baselines give, so no figure is written by hand.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bench.capacity.report import capacity_table, peak_growth_rows
from bench.core.paths import BASELINE_DIR, REPO_ROOT
from bench.core.tables import fmt, md_table
from bench.core.targets import BRIDGE, GO_DIRECT
from bench.judge.references import headline
from bench.report.markdown import (
    floors_section,
    references_section,
    standing_section,
    standing_table,
)
from bench.results import Summary, SummaryError, load_summary
from bench.results.ab import ABRun
from bench.results.capacity import CapacityRun
from bench.results.run import RunSummary
from bench.runner.rounds import ab_markdown

FIGURES_PAGE = REPO_ROOT / "docs" / "figures.md"
README = REPO_ROOT / "README.md"
BEGIN = "<!-- figures:begin (python -m bench report writes this block) -->"
END = "<!-- figures:end -->"
# The baseline whose figures README's first screen quotes: the native quick run.
HEADLINE_BASELINE = "spawned-quick"


def baselines(root: Path = BASELINE_DIR) -> dict[str, Summary]:
    """Every committed baseline, by folder name."""
    out = {}
    for path in sorted(root.glob("*/summary.json")):
        try:
            out[path.parent.name] = load_summary(path)
        except SummaryError as exc:
            raise SummaryError(f"baseline {path.parent.name}: {exc}") from exc
    return out


def _origin(name: str, summary: Summary) -> str:
    env = summary.environment
    return (
        f"`{name}`: run {summary.run_id}, commit {str(env.git_commit)[:12]}, "
        f"{env.cpu_count} CPUs ({env.machine}), mode {env.mode}, profile {summary.profile}"
    )


def _offload_line(summary: RunSummary) -> list[str]:
    """The offloaded file download against Go serving the same file."""
    rows = {(r.kind, r.target, r.size_bytes): r for r in summary.scenarios if r.ok}
    lines = []
    sizes = sorted({size for kind, _, size in rows if kind == "file-offload"})
    for size in sizes[-1:]:
        offload = rows.get(("file-offload", BRIDGE, size))
        direct = rows.get(("file", GO_DIRECT, size))
        if offload and direct and offload.throughput_mb_s and direct.throughput_mb_s:
            cpu = offload.cpu_seconds_per_gib
            lines.append(
                f"Offloaded file ({size // 2**20} MiB): {offload.throughput_mb_s:.0f} MB/s, "
                f"{offload.throughput_mb_s / direct.throughput_mb_s:.2f}x Go direct serving the "
                f"same file; plugin {fmt(cpu.get('plugin'), '.3f')} CPU s/GiB, host RSS growth "
                f"{offload.rss_growth_bytes.get('host', 0) / 2**20:.1f} MiB."
            )
    return lines


def readme_block(summary: RunSummary, name: str) -> str:
    """The first screen's table: where the bridge stands against each peer, from one
    baseline (the same table as the first section of that run's summary.md)."""
    floors = [f for f in summary.floors if f.kind == "download"]
    lines = [BEGIN, standing_table(summary), ""]
    if floors:
        f = max(floors, key=lambda f: (f.size_bytes, f.chunk_bytes == 2**20))
        lines.append(
            f"Distance to the floor, {f.size_bytes // 2**20} MiB download: the bridge spends "
            f"{fmt(f.total.bridge, '.2f')} CPU s/GiB, {fmt(f.total.ratio_to_floor, '.2f')}x the "
            f"gRPC pair plus the client write ({fmt(f.total.floor, '.2f')}) and "
            f"{fmt(f.total.ratio_to_two_hops, '.2f')}x the two hops "
            f"({fmt(f.total.two_hops, '.2f')})."
        )
    lines += _offload_line(summary)
    lines += [
        "",
        f"From the committed baseline {_origin(name, summary)}; all figures: "
        "[docs/figures.md](docs/figures.md).",
        END,
    ]
    return "\n".join(lines)


def _headline_rows(summary: RunSummary) -> RunSummary:
    """The summary with one reference and one floor row per kind: the largest
    transfer at the default chunk, as the first screen quotes them."""
    return dataclasses.replace(
        summary,
        references=list(headline(summary.references).values()),
        floors=list(headline(summary.floors).values()),
    )


def _run_section(name: str, summary: RunSummary) -> list[str]:
    shown = _headline_rows(summary)
    return [
        f"## {name}",
        "",
        _origin(name, summary) + f"; every row: results/baseline/{name}/summary.md.",
        "",
        *[line.replace("## ", "### ", 1) for line in standing_section(summary)],
        *_offload_line(summary),
        *[line.replace("## ", "### ", 1) for line in references_section(shown)],
        *[line.replace("## ", "### ", 1) for line in floors_section(shown)],
        "",
        f"Verdicts: {len(summary.verdicts) - len(summary.failed_verdicts())} of "
        f"{len(summary.verdicts)} passed.",
        "",
    ]


def _capacity_section(name: str, run: CapacityRun) -> list[str]:
    growth = peak_growth_rows(run.ramps)
    return [
        f"## {name}",
        "",
        _origin(name, run) + f"; levels {list(run.levels)}.",
        "",
        capacity_table(run.ramps),
        "",
        *(
            [
                md_table(
                    ["ramp", "process", "peak MiB (fewest)", "peak MiB (most held)", "growth"],
                    growth,
                ),
                "",
            ]
            if growth
            else []
        ),
    ]


def _ab_section(name: str, run: ABRun) -> list[str]:
    body = ab_markdown(run).split("\n", 3)[-1]  # without its title and environment line
    return [f"## {name}", "", _origin(name, run) + ".", "", body, ""]


def figures_page(found: dict[str, Summary]) -> str:
    out = [
        "# Figures",
        "",
        "Made by `python -m bench report` from the committed baselines (`results/baseline/`); "
        "do not edit by hand. `bench baseline RUN_DIR` records a new one.",
        "",
    ]
    for name, summary in found.items():
        if isinstance(summary, RunSummary):
            out += _run_section(name, summary)
        elif isinstance(summary, CapacityRun):
            out += _capacity_section(name, summary)
        elif isinstance(summary, ABRun):
            out += _ab_section(name, summary)
    return "\n".join(out).rstrip() + "\n"


def with_block(readme: str, block: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SummaryError(f"README.md lacks the figures markers ({BEGIN} ... {END})")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + block + tail


def expected(found: dict[str, Summary], readme: str) -> dict[Path, str]:
    files = {FIGURES_PAGE: figures_page(found)}
    head = found.get(HEADLINE_BASELINE)
    if isinstance(head, RunSummary):
        files[README] = with_block(readme, readme_block(head, HEADLINE_BASELINE))
    return files


def run(check: bool, root: Path = BASELINE_DIR) -> int:
    try:
        files = expected(baselines(root), README.read_text())
    except SummaryError as exc:
        print(f"bench report: {exc}")
        return 2
    stale = [p for p, text in files.items() if not p.is_file() or p.read_text() != text]
    if check:
        for path in stale:
            print(
                f"bench report: {path.relative_to(REPO_ROOT)} differs from the baselines; "
                "run python -m bench report"
            )
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path])
        print(f"written {path.relative_to(REPO_ROOT)}")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="docs/figures.md and README's figures from the baselines")
    p.add_argument("--check", action="store_true", help="exit 1 when they are not up to date")
    p.add_argument("--baselines", default=str(BASELINE_DIR), help="root of the baselines")
    p.set_defaults(func=lambda args: run(args.check, Path(args.baselines)))
