"""summary.md of a `bench run` or `bench sweep`, section by section, from its RunSummary."""

from __future__ import annotations

from bench.core.tables import fmt, fmt_mib, md_table, per_name
from bench.core.targets import TARGETS
from bench.core.units import human_size
from bench.judge.references import HEADLINE_PEERS, standing
from bench.judge.verdicts import round_deltas
from bench.results.run import (
    CPU_STEADY_BYTES,
    ReferenceRow,
    RunSummary,
    ScenarioRow,
    SweepRow,
)

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
NOISY = "(noisy)"
NOISY_NOTE = (
    f"{NOISY}: a transfer under {human_size(CPU_STEADY_BYTES)}, where a few milliseconds of "
    "the runtimes' own background work weigh as much as the transfer."
)
_METRIC_LABELS = {"p50_ms": "p50 ms", "p99_ms": "p99 ms", "rss_growth_bytes": "RSS growth MiB"}


def transfer_label(ref: ReferenceRow | SweepRow) -> str:
    return f"{ref.kind} {human_size(ref.size_bytes)} c{human_size(ref.chunk_bytes)}"


def ordered_targets(names: set[str]) -> list[str]:
    return [t for t in TARGETS if t in names] + sorted(names - set(TARGETS))


STANDING_LABELS = {
    "download": "downloads",
    "upload": "uploads (hashed)",
    "file": "file downloads (streamed)",
    "rps": "small requests",
}


def standing_table(summary: RunSummary) -> str:
    """The bridge's figure and its ratio to each headline peer, per kind; `not run`
    where the bridge or a peer did not run it."""
    rows = []
    for line in standing(summary):
        label = STANDING_LABELS.get(line.kind, line.kind)
        if line.bridge is None:
            rows.append([label, line.unit, "not run", *("-" for _ in HEADLINE_PEERS)])
            continue
        rows.append(
            [
                f"{label}, {human_size(line.size_bytes)} c{human_size(line.chunk_bytes)}",
                line.unit,
                fmt(line.bridge),
                *(
                    "not run" if ratio is None else f"{ratio:.2f}x"
                    for ratio in line.ratios.values()
                ),
            ]
        )
    return md_table(["traffic", "unit", "bridge", *(f"bridge / {p}" for p in HEADLINE_PEERS)], rows)


def standing_section(summary: RunSummary) -> list[str]:
    """Where the bridge stands against the Go plugin, Go direct and uvicorn."""
    return [
        "## Where the bridge stands",
        "",
        "The bridge's figure and its ratio to each peer, measured in this run (above 1: the "
        "bridge is faster; MB/s for transfers, req/s for small requests from many "
        "connections): go-plugin is a Go plugin on the legacy plugin RPC, go-direct the host "
        "serving the bytes itself, python-direct uvicorn serving the same app. `not run`: "
        "that side did not run in this run (not built, or left out).",
        "",
        standing_table(summary),
        "",
    ]


def verdicts_section(summary: RunSummary) -> list[str]:
    return [
        "## Verdicts",
        "",
        f"**{'ALL PASSED' if summary.verdicts_passed else 'SOME FAILED'}**",
        "",
        md_table(
            ["verdict", "result", "figures"],
            [[v.name, "pass" if v.passed else "**FAIL**", v.summary] for v in summary.verdicts],
        ),
        "",
    ]


def _scenario_cells(s: ScenarioRow) -> list[str]:
    lat = s.latency_ms
    return [
        s.id,
        "ok" if s.ok else f"**FAILED** {s.error}",
        fmt(s.throughput_mb_s),
        fmt(lat.p50 if lat else None, ".2f"),
        fmt(lat.p99 if lat else None, ".2f"),
        per_name(s.cpu_seconds_per_gib) + (f" {NOISY}" if s.cpu_noisy else ""),
        ", ".join(f"{n} {fmt_mib(v)}" for n, v in s.rss_growth_bytes.items()),
        ", ".join(f"{n} {fmt_mib(v)}" for n, v in s.container_peak_bytes.items()) or "-",
    ]


def scenarios_section(summary: RunSummary) -> list[str]:
    header = [
        "scenario",
        "status",
        "MB/s",
        "p50 ms",
        "p99 ms",
        "CPU s/GiB",
        "RSS growth MiB",
        "container peak MiB",
    ]
    return [
        "## Scenarios",
        "",
        "Throughput in MB/s (10^6 B/s); RSS growth = peak during the scenario minus the value "
        "at its start, in MiB; CPU s/GiB per process (loadgen: the bench's own client), read "
        f"at the start and the end of every transfer; {NOISY_NOTE}",
        "",
        md_table(header, [_scenario_cells(s) for s in summary.scenarios]),
    ]


def _verdict_figures(summary: RunSummary, key: str, chunk: int) -> tuple[dict, bool | None]:
    by_name = {v.name: v for v in summary.verdicts}
    verdict = by_name.get(f"leak/{key}/c{chunk}")
    if verdict is None and key.endswith("rss_bytes"):
        verdict = by_name.get(f"leak-rss/{key.split('.')[0]}/c{chunk}")
    return (verdict.figures, verdict.passed) if verdict else ({}, None)


def leak_section(summary: RunSummary) -> list[str]:
    """Per soak: each counter's growth in every round (warm-up rounds marked w)."""
    out = []
    for s in summary.scenarios:
        rounds = s.extra.get("leak_rounds")
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
            figures, passed = _verdict_figures(summary, key, s.chunk_bytes)
            limit = figures.get("limit_per_request", figures.get("limit_bytes"))
            rows.append(
                [
                    key,
                    *[f"{d:+.0f}" for d in round_deltas(values)],
                    fmt(figures.get("growth_per_request"), "+.3g"),
                    fmt(limit, ".3g"),
                    "-" if passed is None else "pass" if passed else "**FAIL**",
                ]
            )
        out += [
            f"{s.id}: {rounds['round_requests']} mixed requests per round; growth in each "
            "round after a forced GC on both sides (w: warm-up, not judged); a counter leaks "
            "when every measured round grew and its growth per request is over the limit "
            "(RSS: growth over the measured rounds, limit in bytes).",
            "",
            md_table(["counter", *names, "/request", "limit", "verdict"], rows),
            "",
        ]
    return ["", "## Leak soak rounds", "", *out] if out else []


def rps_markdown(rows: list[ScenarioRow]) -> str:
    """One line per `rps` scenario: req/s, latency, CPU per request, the generator's own CPU."""
    out = []
    for s in rows:
        extra, lat = s.extra, s.latency_ms
        out.append(
            [
                s.id,
                "ok" if s.ok else f"**FAILED** {s.error}",
                fmt(extra.get("requests_per_s")),
                fmt(lat.p50 if lat else None, ".2f"),
                fmt(lat.p99 if lat else None, ".2f"),
                per_name(extra.get("cpu_us_per_request") or {}, ".0f"),
                f"{extra.get('generator', '-')} {fmt(extra.get('client_cpu_cores'), '.2f')}",
            ]
        )
    return md_table(
        ["scenario", "status", "req/s", "p50 ms", "p99 ms", "CPU us/request", "generator, cores"],
        out,
    )


def rps_section(summary: RunSummary) -> list[str]:
    rows = [s for s in summary.scenarios if s.kind == "rps"]
    return ["", "## Small-request throughput", "", rps_markdown(rows)] if rows else []


def _metrics_table(references: list[ReferenceRow], targets: list[str]) -> str:
    """Latency and RSS growth of the same transfers; bridge / reference (lower is better)."""
    rows = []
    for r in references:
        for metric, label in _METRIC_LABELS.items():
            figures = r.metrics.get(metric)
            if not figures:
                continue
            spec = None if metric == "rss_growth_bytes" else ".2f"
            cells = [
                fmt_mib(figures.get(t)) if spec is None else fmt(figures.get(t), spec)
                for t in targets
            ]
            ratios = r.metric_ratios.get(metric, {})
            rows.append(
                [
                    transfer_label(r),
                    label,
                    *cells,
                    ", ".join(f"{t} {x:.2f}x" for t, x in ratios.items()) or "-",
                ]
            )
    return md_table(["transfer", "figure", *targets, "bridge / reference"], rows)


def _cpu_table(references: list[ReferenceRow], targets: list[str]) -> str:
    rows = [
        [transfer_label(r), *[per_name(r.cpu_s_per_gib.get(t, {})) for t in targets]]
        for r in references
        if r.cpu_s_per_gib
    ]
    return md_table(["transfer (CPU s/GiB)", *targets], rows) if rows else ""


def references_section(summary: RunSummary) -> list[str]:
    refs = summary.references
    if not refs:
        return []
    targets = ordered_targets({t for r in refs for t in r.values})
    rows = [
        [
            transfer_label(r),
            r.unit,
            *[fmt(r.values.get(t)) for t in targets],
            ", ".join(f"{t} {x:.2f}x" for t, x in r.bridge_ratio_to.items()),
        ]
        for r in refs
    ]
    out = [
        "",
        "## References side by side",
        "",
        md_table(["transfer", "unit", *targets, "bridge vs"], rows),
        "",
        _metrics_table(refs, targets),
    ]
    cpu = _cpu_table(refs, targets)
    return out + (["", "CPU seconds per GiB of each target's processes:", "", cpu] if cpu else [])


def floors_section(summary: RunSummary) -> list[str]:
    """Each side of the bridge against its floor and against the two hops."""
    if not summary.floors:
        return []
    rows = []
    for f in summary.floors:
        label = f"{f.kind} {human_size(f.size_bytes)} c{human_size(f.chunk_bytes)}"
        for side, d in f.sides().items():
            rows.append(
                [
                    label + (f" {NOISY}" if f.noisy else ""),
                    side,
                    fmt(d.bridge, ".2f"),
                    fmt(d.floor, ".2f"),
                    fmt(d.ratio_to_floor, ".2f"),
                    fmt(d.two_hops, ".2f"),
                    fmt(d.ratio_to_two_hops, ".2f"),
                ]
            )
    return [
        "",
        "## Distance to the floor (CPU s/GiB)",
        "",
        "floor: the gRPC pair alone (the host pulling the same response from the same plugin "
        "and discarding it) plus, for the host, the client write (Go direct's host writing "
        "the same bytes); two hops: Go direct (host) and uvicorn serving the same app "
        f"(plugin). x floor, x two hops: the bridge's figure divided by them. {NOISY_NOTE}",
        "",
        md_table(
            ["transfer", "side", "bridge", "floor", "x floor", "two hops", "x two hops"], rows
        ),
    ]


def sweep_markdown(table: list[SweepRow]) -> str:
    header = [
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
    ]
    return md_table(
        header,
        [
            [
                human_size(r.chunk_bytes),
                r.kind,
                human_size(r.size_bytes),
                fmt(r.mb_s.get("bridge")),
                fmt(r.mb_s.get("go-direct")),
                fmt(r.bridge_vs_go_direct, ".2f"),
                fmt(r.cpu_s_per_gib.get("host"), ".2f"),
                fmt(r.cpu_s_per_gib.get("plugin"), ".2f"),
                fmt_mib(r.rss_growth_bytes.get("host")),
                fmt_mib(r.rss_growth_bytes.get("plugin")),
            ]
            for r in table
        ],
    )


def tail_sections(summary: RunSummary) -> list[str]:
    out = []
    if summary.sweep:
        out += ["", "## Chunk-size sweep", "", sweep_markdown(summary.sweep)]
    if summary.steps:
        out += ["", "## Other tools", ""]
        out += [f"- {name}: {step.status}; {step.detail}" for name, step in summary.steps.items()]
    if summary.containers:
        out += ["", "## Containers", ""]
        out += [
            f"- {name}: peak {fmt_mib(c.peak_bytes)} MiB of {fmt_mib(c.limit_bytes)} MiB, "
            f"OOM killed: {c.oom_killed}"
            for name, c in summary.containers.items()
        ]
    s = summary.sampler
    return [*out, "", f"Sampler: {s.samples} samples, {s.error_count} errors."]


def summary_markdown(summary: RunSummary) -> str:
    out = [
        f"# streambench run {summary.run_id} ({summary.profile} profile)",
        "",
        summary.environment.line(),
        "",
        *standing_section(summary),
        *verdicts_section(summary),
        *scenarios_section(summary),
        *leak_section(summary),
        *rps_section(summary),
        *references_section(summary),
        *floors_section(summary),
        *tail_sections(summary),
    ]
    return "\n".join(out) + "\n"
