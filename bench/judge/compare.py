"""`bench compare BASELINE CURRENT`: the regression gate.

Per scenario of the baseline: peak RSS growth per process, container peak
memory, throughput; per leak counter of the current run's soak: its growth per
request, a regression whenever the soak's leak verdict failed (a leak is never
tolerated relative to a baseline). Throughput is compared
as the ratio to the Go-direct reference of the same run when both runs have it
(so a slower machine does not look like a regression), else as raw MB/s; the
small-request throughput scenario (`rps`) likewise by req/s, and its p99 latency
may grow by a fraction plus a slack.
Exit status: 0 no regression, 1 regression, 2 unusable input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report.markdown import md_table
from bench.report.summary import SCHEMA_VERSION
from bench.runner.targets import BRIDGE, GO_DIRECT

MiB = 1024 * 1024


class CompareError(ValueError):
    """A summary that cannot be compared: missing, malformed, other schema, missing scenario."""


@dataclass(frozen=True)
class CompareTolerances:
    memory_fraction: float = 0.5  # RSS growth may grow by 50 % ...
    memory_slack_bytes: int = 8 * MiB  # ... plus this (small growths are noisy)
    throughput_fraction: float = 0.25  # throughput (or its ratio) may drop by 25 %
    container_fraction: float = 0.25
    container_slack_bytes: int = 8 * MiB
    latency_fraction: float = 0.5  # small-request p99 may grow by 50 % ...
    latency_slack_ms: float = 2.0  # ... plus this (scheduler noise on a busy machine)


@dataclass
class Check:
    scenario: str
    metric: str
    baseline: float | None
    current: float | None
    limit: float | None
    status: str  # "ok", "REGRESSION", "improved", "info" (a reference's change: not gated)
    note: str = ""


@dataclass
class Comparison:
    checks: list[Check] = field(default_factory=list)

    @property
    def regressions(self) -> list[Check]:
        return [c for c in self.checks if c.status == "REGRESSION"]


def load_summary(path: str | Path) -> dict[str, Any]:
    """summary.json from a file or a run folder, validated enough to compare."""
    p = Path(path)
    if p.is_dir():
        p = p / "summary.json"
    if not p.is_file():
        raise CompareError(f"{p}: no such file (expected a summary.json or a run folder)")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise CompareError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise CompareError(f"{p}: expected a JSON object at the top level")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise CompareError(
            f"{p}: schema_version {data.get('schema_version')!r}, this bench reads {SCHEMA_VERSION}"
        )
    if data.get("kind") == "capacity":  # a `bench capacity` run: bench/capacity/gate.py
        if not isinstance(data.get("ramps"), list):
            raise CompareError(f"{p}: capacity run without a 'ramps' list")
        data["_path"] = str(p)
        return data
    scenarios = data.get("scenarios")
    if not isinstance(scenarios, list):
        raise CompareError(f"{p}: 'scenarios' missing or not a list")
    for i, s in enumerate(scenarios):
        if not isinstance(s, dict) or "id" not in s or "ok" not in s:
            raise CompareError(f"{p}: scenarios[{i}] lacks 'id'/'ok'")
    data["_path"] = str(p)
    return data


def _by_id(summary: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in summary["scenarios"]}


def _go_direct_twin(scenario: Mapping[str, Any], by_id: Mapping[str, Any]) -> Any:
    if scenario.get("target") != BRIDGE:
        return None
    twin_id = scenario["id"].replace(f"/{BRIDGE}/", f"/{GO_DIRECT}/", 1)
    twin = by_id.get(twin_id)
    return twin.get("throughput_mb_s") if twin and twin.get("ok") else None


def _higher_is_worse(
    scenario: str, metric: str, base: float, cur: float, fraction: float, slack: float
) -> Check:
    limit = base * (1 + fraction) + slack
    if cur > limit:
        status = "REGRESSION"
    elif cur < base - slack:
        status = "improved"
    else:
        status = "ok"
    return Check(scenario, metric, base, cur, limit, status)


def _lower_is_worse(scenario: str, metric: str, base: float, cur: float, fraction: float) -> Check:
    limit = base * (1 - fraction)
    if cur < limit:
        status = "REGRESSION"
    elif cur > base * (1 + fraction):
        status = "improved"
    else:
        status = "ok"
    return Check(scenario, metric, base, cur, limit, status)


def compare(
    baseline: Mapping[str, Any],
    current: Mapping[str, Any],
    tol: CompareTolerances | None = None,
) -> Comparison:
    tol = tol or CompareTolerances()
    from bench.capacity import gate

    if gate.is_capacity(baseline) or gate.is_capacity(current):
        if not (gate.is_capacity(baseline) and gate.is_capacity(current)):
            raise CompareError("a capacity run compares only with a capacity run")
        return gate.compare_capacity(baseline, current, tol)
    base_ids, cur_ids = _by_id(baseline), _by_id(current)
    missing = sorted(set(base_ids) - set(cur_ids))
    if missing:
        raise CompareError(
            f"{current.get('_path', 'current run')} lacks scenarios of the baseline: "
            f"{', '.join(missing)} (run the same profile and scenarios, or update the baseline)"
        )
    result = Comparison()
    for sid, base in base_ids.items():
        cur = cur_ids[sid]
        if base["ok"] and not cur["ok"]:
            result.checks.append(Check(sid, "ok", 1, 0, None, "REGRESSION", str(cur.get("error"))))
            continue
        if not base["ok"]:
            continue
        for proc, base_growth in (base.get("rss_growth_bytes") or {}).items():
            if proc == "loadgen":
                continue  # the load generator is not under test
            cur_growth = (cur.get("rss_growth_bytes") or {}).get(proc)
            if cur_growth is None:
                continue
            result.checks.append(
                _higher_is_worse(
                    sid,
                    f"rss_growth/{proc}",
                    base_growth,
                    cur_growth,
                    tol.memory_fraction,
                    tol.memory_slack_bytes,
                )
            )
        for name, base_peak in (base.get("container_peak_bytes") or {}).items():
            cur_peak = (cur.get("container_peak_bytes") or {}).get(name)
            if cur_peak is not None:
                result.checks.append(
                    _higher_is_worse(
                        sid,
                        f"container_peak/{name}",
                        base_peak,
                        cur_peak,
                        tol.container_fraction,
                        tol.container_slack_bytes,
                    )
                )
        base_tp, cur_tp = base.get("throughput_mb_s"), cur.get("throughput_mb_s")
        if base_tp and cur_tp:
            base_ref = _go_direct_twin(base, base_ids)
            cur_ref = _go_direct_twin(cur, cur_ids)
            if base_ref and cur_ref:
                check = _lower_is_worse(
                    sid,
                    "throughput/go-direct",
                    base_tp / base_ref,
                    cur_tp / cur_ref,
                    tol.throughput_fraction,
                )
                check.note = f"{base_tp:.0f} -> {cur_tp:.0f} MB/s raw"
            else:
                check = _lower_is_worse(
                    sid, "throughput_mb_s", base_tp, cur_tp, tol.throughput_fraction
                )
            result.checks.append(check)
        if base.get("kind") == "rps":
            result.checks.extend(_rps_checks(sid, base, cur, base_ids, cur_ids, tol))
    for check in result.checks:
        target = base_ids.get(check.scenario, {}).get("target")
        if target not in (None, BRIDGE) and check.status == "REGRESSION":
            # References (go-direct, python-direct, buffered) are context, not under test.
            check.status = "info"
            check.note = (check.note + " reference: not gated").strip()
    base_leaks = _leak_figures(baseline)
    for name, (cur_growth, limit, passed) in _leak_figures(current).items():
        base_growth = base_leaks.get(name, (None, None, None))[0]
        status = "ok" if passed else "REGRESSION"
        note = "" if name in base_leaks else "not in the baseline"
        result.checks.append(
            Check(name, "leak_growth/request", base_growth, cur_growth, limit, status, note)
        )
    return result


def _requests_per_s(scenario: Mapping[str, Any] | None) -> float | None:
    if not scenario or not scenario.get("ok"):
        return None
    value = (scenario.get("extra") or {}).get("requests_per_s")
    return float(value) if value else None


def _rps_checks(
    sid: str,
    base: Mapping[str, Any],
    cur: Mapping[str, Any],
    base_ids: Mapping[str, Any],
    cur_ids: Mapping[str, Any],
    tol: CompareTolerances,
) -> list[Check]:
    """Small-request throughput: req/s like throughput (as a ratio to go-direct's req/s
    of the same run when both runs have it), p99 latency like a cost (higher is worse)."""
    checks = []
    base_rps, cur_rps = _requests_per_s(base), _requests_per_s(cur)
    if base_rps and cur_rps:
        twin = (
            sid.replace(f"/{BRIDGE}/", f"/{GO_DIRECT}/", 1)
            if base.get("target") == BRIDGE
            else None
        )
        base_ref = _requests_per_s(base_ids.get(twin)) if twin else None
        cur_ref = _requests_per_s(cur_ids.get(twin)) if twin else None
        if base_ref and cur_ref:
            check = _lower_is_worse(
                sid,
                "req_s/go-direct",
                base_rps / base_ref,
                cur_rps / cur_ref,
                tol.throughput_fraction,
            )
            check.note = f"{base_rps:.0f} -> {cur_rps:.0f} req/s raw"
        else:
            check = _lower_is_worse(sid, "req_s", base_rps, cur_rps, tol.throughput_fraction)
        checks.append(check)
    base_p99 = (base.get("latency_ms") or {}).get("p99")
    cur_p99 = (cur.get("latency_ms") or {}).get("p99")
    if base_p99 is not None and cur_p99 is not None:
        checks.append(
            _higher_is_worse(
                sid, "p99_ms", base_p99, cur_p99, tol.latency_fraction, tol.latency_slack_ms
            )
        )
    return checks


def _leak_figures(summary: Mapping[str, Any]) -> dict[str, tuple[float, float, bool]]:
    """leak/<counter>/c<chunk> verdicts: (growth per request, limit, passed)."""
    out = {}
    for v in summary.get("verdicts") or []:
        if isinstance(v, dict) and str(v.get("name", "")).startswith("leak/"):
            figures = v.get("figures") or {}
            growth = figures.get("growth_per_request")
            limit = figures.get("limit_per_request")
            if isinstance(growth, int | float) and isinstance(limit, int | float):
                out[v["name"]] = (float(growth), float(limit), bool(v.get("passed")))
    return out


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
            c.note,
        ]
        for c in comparison.checks
    ]


HEADER = ["scenario", "metric", "baseline", "current", "limit", "status", "note"]


def terminal_table(comparison: Comparison) -> str:
    rows = [HEADER, *_rows(comparison)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    verdict = (
        f"{len(comparison.regressions)} regression(s)"
        if comparison.regressions
        else "no regression"
    )
    return "\n".join(lines) + f"\n\n{verdict} in {len(comparison.checks)} checks\n"


def markdown(comparison: Comparison, baseline_path: str, current_path: str) -> str:
    head = "## Bench comparison\n\n"
    head += f"Baseline `{baseline_path}`, current `{current_path}`: "
    head += (
        f"**{len(comparison.regressions)} regression(s)**\n\n"
        if comparison.regressions
        else "**no regression**\n\n"
    )
    return head + md_table(HEADER, _rows(comparison)) + "\n"
