"""summary.md: verdicts, scenarios, leak rounds, references, sweep, from summary.json's document.

It renders the JSON form (not the typed rows), so an older run's summary.json renders too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.judge.verdicts import round_deltas
from bench.scenarios.profiles import human_size

MiB = 1024 * 1024


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
