"""What `bench compare` prints: the checks of a gate (bench/judge/compare.py for runs,
bench/capacity/gate.py for capacity ramps) as a terminal table and as markdown.

The verdict comes with the gate's tolerances beside it, and with the checks that
could not have seen a 2x regression of their own baseline figure, so a pass is
never read as more than it is; a refused comparison is written out too.
"""

from __future__ import annotations

from bench.core.tables import md_table
from bench.core.units import MiB
from bench.judge.compare import Comparison, NotComparable

HEADER = ["scenario", "metric", "baseline", "current", "limit", "status", "note"]


def _fmt_value(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric.startswith(("rss_growth", "container_peak", "peak_memory")):
        return f"{value / MiB:.1f} MiB"
    if metric.startswith(("throughput/", "req_s/")):
        return f"{value:.3f}x"
    if metric == "req_s":
        return f"{value:.0f} req/s"
    if metric == "p99_ms":
        return f"{value:.2f} ms"
    if metric.startswith("throughput"):
        return f"{value:.0f} MB/s"
    if metric.startswith("leak_growth"):
        return f"{value:.3g}"
    if metric == "capacity":
        return f"{value:.0f} streams"
    return f"{value:.1f}"


def _rows(comparison: Comparison) -> list[list[str]]:
    return [
        [
            c.scenario,
            c.metric,
            _fmt_value(c.metric, c.baseline),
            _fmt_value(c.metric, c.current),
            _fmt_value(c.metric, c.limit),
            c.status,
            (c.note + ("" if c.catches_2x or c.status == "info" else " (blind to 2x)")).strip(),
        ]
        for c in comparison.checks
    ]


def verdict_line(comparison: Comparison) -> str:
    n = len(comparison.regressions)
    return f"{n} regression(s)" if n else "no regression"


def gate_text(comparison: Comparison) -> list[str]:
    """Tolerances, notes and the checks too loose to catch a 2x regression."""
    lines = [f"Tolerances: {'; '.join(comparison.tolerances)}."] if comparison.tolerances else []
    lines += [f"Note: {note}." for note in comparison.notes]
    loose = comparison.too_loose()
    if loose:
        metrics = sorted({c.metric.split("/")[0] for c in loose})
        lines.append(
            f"Too loose to catch a 2x regression: {len(loose)} of {len(comparison.checks)} "
            f"checks ({', '.join(metrics)}: a doubling of their baseline figure stays within "
            "the limit, the figure being under the slack or the fraction allowing it; marked "
            "'blind to 2x')."
        )
    return lines


def terminal_table(comparison: Comparison) -> str:
    """The checks, then the verdict with the tolerances and notes right below it."""
    rows = [HEADER, *_rows(comparison)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    tail = f"\n\n{verdict_line(comparison)} in {len(comparison.checks)} checks\n"
    return "\n".join(lines) + tail + "".join(f"{line}\n" for line in gate_text(comparison))


def markdown(comparison: Comparison, baseline_path: str, current_path: str) -> str:
    """The verdict and, beside it, the tolerances and notes; then the checks."""
    head = f"## Bench comparison\n\nBaseline `{baseline_path}`, current `{current_path}`: "
    head += f"**{verdict_line(comparison)}**\n\n"
    gate = "".join(f"{line}\n\n" for line in gate_text(comparison))
    return head + gate + md_table(HEADER, _rows(comparison)) + "\n"


def not_comparable_markdown(refusal: NotComparable, baseline_path: str, current_path: str) -> str:
    """A refused comparison, for the same readers (a CI step summary) as a verdict."""
    reasons = "".join(f"- {problem}\n" for problem in refusal.problems)
    return (
        f"## Bench comparison\n\nBaseline `{baseline_path}`, current `{current_path}`: "
        "**NOT COMPARABLE** (exit 2): the runs were made under other conditions, so their "
        f"figures say nothing about a regression:\n\n{reasons}\nRun it the way the baseline "
        "was run, or record a new baseline (`bench baseline`).\n"
    )
