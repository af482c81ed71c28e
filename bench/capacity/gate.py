"""`bench compare` of two capacity runs: the nightly gate.

Only like is compared with like: the same profile, mode, ramps (targets and
modes), ramp settings (levels, stream bytes, chunk, --fresh, --same-bytes), the
same limits (memory cap, TTFB SLO) and the same service settings; a run under
others is NOT COMPARABLE and the gate says so (exit 2), never a quiet pass. Per
ramp of the baseline (target/mode): the capacity may not drop (a higher one is
reported as improved), and at every level both runs held, each process's peak
memory may not rise beyond the compare tolerances for peaks (fraction + slack,
as for container peaks). Only the bridge gates; the peers' changes are shown as
`info`.
"""

from __future__ import annotations

from bench.core.targets import BRIDGE
from bench.judge.compare import (
    Check,
    CompareTolerances,
    Comparison,
    NotComparable,
    conditions,
    higher_is_worse,
    machine_notes,
)
from bench.observe.samplers import LOADGEN
from bench.results.capacity import CapacityRun, Ramp


def comparability(baseline: CapacityRun, current: CapacityRun) -> list[str]:
    """Why two capacity runs are not comparable (empty: they are)."""
    problems = []
    if baseline.profile != current.profile:
        problems.append(f"profile {baseline.profile} vs {current.profile}")
    recorded = min(baseline.schema_version, current.schema_version) >= 2
    problems += conditions(
        baseline.environment, current.environment, settings=recorded, chunks=False
    )
    problems += baseline.settings.differences(current.settings)
    base_keys, cur_keys = [r.key for r in baseline.ramps], [r.key for r in current.ramps]
    missing = [k for k in base_keys if k not in cur_keys]
    added = [k for k in cur_keys if k not in base_keys]
    if missing:
        problems.append(f"ramps of the baseline missing: {', '.join(missing)}")
    if added:
        problems.append(f"ramps the baseline has not: {', '.join(added)}")
    return problems


def _capacity_check(base: Ramp, cur: Ramp) -> Check:
    status = "ok"
    if cur.capacity < base.capacity:
        status = "REGRESSION"
    elif cur.capacity > base.capacity:
        status = "improved"
    note = "" if cur.stopped_at is None else f"stopped at {cur.stopped_at}: {cur.reason}"
    # Half the capacity is caught unless the baseline held no level at all.
    return Check(
        base.key,
        "capacity",
        base.capacity,
        cur.capacity,
        base.capacity,
        status,
        note,
        catches_2x=base.capacity >= 1,
    )


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
            checks.append(
                higher_is_worse(
                    f"{base.key}/x{base_level.concurrency}",
                    f"peak_memory/{peak.name}",
                    peak.peak_bytes,
                    now,
                    tol.container_fraction,
                    tol.container_slack_bytes,
                )
            )
    return checks


def compare_capacity(
    baseline: CapacityRun, current: CapacityRun, tol: CompareTolerances | None = None
) -> Comparison:
    tol = tol or CompareTolerances()
    problems = comparability(baseline, current)
    if problems:
        raise NotComparable(current.path or "the current run", problems)
    current_ramps = {r.key: r for r in current.ramps}
    limits = baseline.settings.limits
    result = Comparison(
        tolerances=[
            "capacity: no drop (any lower level is a regression: sees a 2x drop of any "
            "capacity of 1 or more)",
            f"levels run under a cap of {limits.memory_cap_bytes / 2**20:g} MiB and a TTFB "
            f"p99 SLO of {limits.ttfb_slo_s * 1000:g} ms (both runs)",
            tol.peaks() + " per level both runs held",
        ],
        notes=machine_notes(baseline.environment, current.environment),
    )
    for base in baseline.ramps:
        cur = current_ramps[base.key]
        checks = [_capacity_check(base, cur), *_memory_checks(base, cur, tol)]
        if base.target != BRIDGE:
            for check in checks:
                if check.status == "REGRESSION":
                    check.status = "info"
                    check.note = (check.note + " reference: not gated").strip()
        result.checks.extend(checks)
    return result
