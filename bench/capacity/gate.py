"""`bench compare` of two capacity runs: the nightly gate.

Only like is compared with like: the same profile, mode and ramp settings
(levels, stream bytes, chunk) and the same limits (memory cap, TTFB SLO); a run
under others is not comparable and the gate says so (exit 2). Per ramp of the
baseline (target/mode): the capacity may not drop (a higher one is reported as
improved), and at every level both runs held, each process's peak memory may
not rise beyond the compare tolerances for peaks (fraction + slack, as for
container peaks). Only the bridge gates; the peers' changes are shown as `info`.
"""

from __future__ import annotations

from bench.core.targets import BRIDGE
from bench.judge.compare import Check, CompareError, CompareTolerances, Comparison, higher_is_worse
from bench.observe.samplers import LOADGEN
from bench.results.capacity import CapacityRun, Ramp


def comparability(baseline: CapacityRun, current: CapacityRun) -> list[str]:
    """Why two capacity runs are not comparable (empty: they are)."""
    problems = []
    if baseline.profile != current.profile:
        problems.append(f"profile {baseline.profile} vs {current.profile}")
    if baseline.environment.mode != current.environment.mode:
        problems.append(f"mode {baseline.environment.mode} vs {current.environment.mode}")
    return problems + baseline.settings.differences(current.settings)


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
        raise CompareError(
            f"not comparable: {current.path or 'the current run'} ramped under other "
            f"conditions than the baseline: {'; '.join(problems)}"
        )
    current_ramps = {r.key: r for r in current.ramps}
    missing = [r.key for r in baseline.ramps if r.key not in current_ramps]
    if missing:
        raise CompareError(
            f"{current.path or 'current run'} lacks ramps of the baseline: "
            f"{', '.join(missing)} (run the same profile, targets and modes)"
        )
    result = Comparison(
        tolerances=[
            "capacity: no drop (any lower level is a regression)",
            f"peaks per level: baseline x {1 + tol.container_fraction:g} + "
            f"{tol.container_slack_bytes / 2**20:g} MiB",
        ]
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
