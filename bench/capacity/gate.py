"""`bench compare` of two capacity runs: the nightly gate.

Per ramp of the baseline (target/mode): the capacity may not drop, and at every
level both runs held, each process's peak memory may not rise beyond the compare
tolerances for peaks (fraction + slack, as for container peaks). Only the
bridge gates; the references' changes are shown as `info`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.capacity.model import CAPACITY_KIND, CapacityRun, Ramp, from_json
from bench.judge.compare import Check, CompareError, CompareTolerances, Comparison
from bench.observe.samplers import LOADGEN
from bench.runner.targets import BRIDGE


def is_capacity(summary: Mapping[str, Any]) -> bool:
    return summary.get("kind") == CAPACITY_KIND


def load(summary: Mapping[str, Any]) -> CapacityRun:
    """A capacity summary.json (already parsed) as records; CompareError when malformed."""
    try:
        return from_json(dict(summary))
    except (KeyError, TypeError) as exc:
        raise CompareError(
            f"{summary.get('_path', 'summary')}: not a readable capacity run ({exc!r})"
        ) from exc


def _capacity_check(base: Ramp, cur: Ramp) -> Check:
    status = "ok"
    if cur.capacity < base.capacity:
        status = "REGRESSION"
    elif cur.capacity > base.capacity:
        status = "improved"
    note = "" if cur.stopped_at is None else f"stopped at {cur.stopped_at}: {cur.reason}"
    return Check(base.key, "capacity", base.capacity, cur.capacity, base.capacity, status, note)


def _memory_checks(base: Ramp, cur: Ramp, tol: CompareTolerances) -> list[Check]:
    checks = []
    current_levels = {lv.concurrency: lv for lv in cur.levels}
    for base_level in base.levels:
        cur_level = current_levels.get(base_level.concurrency)
        if cur_level is None or not base_level.held or not cur_level.held:
            continue  # a level that broke is judged by the capacity check
        for peak in base_level.processes:
            now = cur_level.peak(peak.name)
            if peak.name == LOADGEN or now is None:
                continue
            limit = peak.peak_bytes * (1 + tol.container_fraction) + tol.container_slack_bytes
            if now > limit:
                status = "REGRESSION"
            elif now < peak.peak_bytes - tol.container_slack_bytes:
                status = "improved"
            else:
                status = "ok"
            checks.append(
                Check(
                    f"{base.key}/x{base_level.concurrency}",
                    f"peak_memory/{peak.name}",
                    peak.peak_bytes,
                    now,
                    limit,
                    status,
                )
            )
    return checks


def compare_capacity(
    baseline: Mapping[str, Any], current: Mapping[str, Any], tol: CompareTolerances
) -> Comparison:
    base_run, cur_run = load(baseline), load(current)
    current_ramps = {r.key: r for r in cur_run.ramps}
    missing = [r.key for r in base_run.ramps if r.key not in current_ramps]
    if missing:
        raise CompareError(
            f"{current.get('_path', 'current run')} lacks ramps of the baseline: "
            f"{', '.join(missing)} (run the same profile, targets and modes)"
        )
    result = Comparison()
    for base in base_run.ramps:
        cur = current_ramps[base.key]
        checks = [_capacity_check(base, cur), *_memory_checks(base, cur, tol)]
        if base.target != BRIDGE:
            for check in checks:
                if check.status == "REGRESSION":
                    check.status = "info"
                    check.note = (check.note + " reference: not gated").strip()
        result.checks.extend(checks)
    return result
