"""`bench compare BASELINE CURRENT` on two `bench run` summaries: the regression gate.

Only like is compared with like: two runs of other modes, profiles, chunk
settings or process settings are not comparable, and the gate says so (exit 2)
instead of passing. Per scenario of the baseline: peak RSS growth per process,
container peak memory, throughput; per leak counter of the current run's soak:
its growth per request, a regression whenever the soak's leak verdict failed (a
leak is never tolerated relative to a baseline). Throughput is compared as the
ratio to the Go-direct reference of the same run when both runs have it (so a
slower machine does not look like a regression), else as raw MB/s; the
small-request throughput scenario (`rps`) likewise by req/s, and its p99
latency may grow by a fraction plus a slack. Only the bridge gates; the peers'
changes are shown as `info`.

Every comparison states its tolerances, and each check whether it could catch a
2x regression of its own baseline figure at all (a growth of 2 MiB doubling to
4 MiB stays under 2 x 1.5 + 8 MiB): the summary lists those that could not.
Exit status: 0 no regression, 1 regression, 2 unusable input or not comparable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bench.core.targets import BRIDGE, GO_DIRECT
from bench.core.units import MiB
from bench.observe.samplers import LOADGEN
from bench.results.environment import Environment
from bench.results.run import RunSummary, ScenarioRow


class CompareError(ValueError):
    """Two summaries that cannot be compared: unusable, of other kinds, missing scenarios."""


class NotComparable(CompareError):
    """Two runs made under other conditions (profile, mode, chunks, settings, limits):
    their figures say nothing about a regression."""

    def __init__(self, what: str, problems: list[str]) -> None:
        self.problems = problems
        self.detail = (
            f"{what} ran under other conditions than the baseline: {'; '.join(problems)} "
            "(run it the same way, or record a new baseline)"
        )
        super().__init__(f"not comparable: {self.detail}")


def doubling_seen(fraction: float, slack: float, unit: str, spec: str = "g") -> str:
    """Which figures a limit `baseline x (1 + fraction) + slack` sees double: those over
    slack / (1 - fraction); none when the fraction alone allows a doubling."""
    if fraction >= 1:
        return "cannot see a doubling at all"
    if slack <= 0:
        return "sees a doubling"
    return f"sees a doubling only of figures over {format(slack / (1 - fraction), spec)} {unit}"


def halving_seen(fraction: float) -> str:
    """Whether a limit `baseline x (1 - fraction)` sees a 2x drop."""
    if fraction >= 0.5:
        return f"cannot see a 2x drop: x {1 - fraction:g} is at or below half"
    return "sees a 2x drop"


@dataclass(frozen=True)
class CompareTolerances:
    memory_fraction: float = 0.5  # RSS growth may grow by 50 % ...
    memory_slack_bytes: int = 8 * MiB  # ... plus this (small growths are noisy)
    throughput_fraction: float = 0.25  # throughput (or its ratio) may drop by 25 %
    container_fraction: float = 0.25
    container_slack_bytes: int = 8 * MiB
    latency_fraction: float = 0.5  # small-request p99 may grow by 50 % ...
    latency_slack_ms: float = 2.0  # ... plus this (scheduler noise on a busy machine)

    def peaks(self) -> str:
        """The tolerance of container and process peaks (the capacity gate's too)."""
        fraction, slack = self.container_fraction, self.container_slack_bytes / MiB
        seen = doubling_seen(fraction, slack, "MiB", ".1f")
        return f"peaks: baseline x {1 + fraction:g} + {slack:g} MiB ({seen})"

    def describe(self) -> list[str]:
        """Each limit, and whether it can see a 2x regression (computed from it)."""
        memory, slack = self.memory_fraction, self.memory_slack_bytes / MiB
        latency, ms = self.latency_fraction, self.latency_slack_ms
        drop = self.throughput_fraction
        return [
            f"RSS growth: baseline x {1 + memory:g} + {slack:g} MiB "
            f"({doubling_seen(memory, slack, 'MiB', '.1f')})",
            self.peaks(),
            "throughput and req/s (as ratios to Go direct when both runs have it): "
            f"baseline x {1 - drop:g} ({halving_seen(drop)})",
            f"small-request p99: baseline x {1 + latency:g} + {ms:g} ms "
            f"({doubling_seen(latency, ms, 'ms')})",
            "leaks: none (a failed leak verdict is a regression)",
        ]


@dataclass
class Check:
    scenario: str
    metric: str
    baseline: float | None
    current: float | None
    limit: float | None
    status: str  # "ok", "REGRESSION", "improved", "info" (a peer's change: not gated)
    note: str = ""
    # Would the limit be crossed if the baseline figure got twice as bad?
    catches_2x: bool = True


@dataclass
class Comparison:
    checks: list[Check] = field(default_factory=list)
    tolerances: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. another machine

    @property
    def regressions(self) -> list[Check]:
        return [c for c in self.checks if c.status == "REGRESSION"]

    def too_loose(self) -> list[Check]:
        """Gated checks whose limit a 2x regression of their baseline would not cross."""
        return [c for c in self.checks if c.status != "info" and not c.catches_2x]


def higher_is_worse(
    scenario: str, metric: str, base: float, cur: float, fraction: float, slack: float
) -> Check:
    limit = base * (1 + fraction) + slack
    if cur > limit:
        status = "REGRESSION"
    elif cur < base - slack:
        status = "improved"
    else:
        status = "ok"
    return Check(scenario, metric, base, cur, limit, status, catches_2x=2 * base > limit)


def lower_is_worse(scenario: str, metric: str, base: float, cur: float, fraction: float) -> Check:
    limit = base * (1 - fraction)
    if cur < limit:
        status = "REGRESSION"
    elif cur > base * (1 + fraction):
        status = "improved"
    else:
        status = "ok"
    return Check(scenario, metric, base, cur, limit, status, catches_2x=base / 2 < limit)


def conditions(
    base: Environment, cur: Environment, *, settings: bool, chunks: bool = True
) -> list[str]:
    """What differs between the conditions two runs were made under: mode, chunk
    settings and (when both recorded them: `settings`) the services' settings."""
    out = []
    if base.mode != cur.mode:
        out.append(f"mode {base.mode} vs {cur.mode}")
    if chunks and base.chunk_sizes and cur.chunk_sizes and base.chunk_sizes != cur.chunk_sizes:
        out.append(f"chunk sizes {base.chunk_sizes} vs {cur.chunk_sizes}")
    if settings:
        for key in sorted(set(base.settings) | set(cur.settings)):
            mine, theirs = base.settings.get(key), cur.settings.get(key)
            if mine != theirs:
                out.append(f"setting {key}: {mine or 'unset'} vs {theirs or 'unset'}")
    return out


def _machine(env: Environment, with_model: bool) -> str:
    model = [env.cpu_model] if with_model and env.cpu_model else []
    return " ".join([f"{env.cpu_count} CPUs", str(env.machine), *model])


def machine_notes(base: Environment, cur: Environment) -> list[str]:
    """Another machine does not stop a comparison (throughput is compared as ratios to
    Go direct of the same run), but the reader is told."""
    with_model = base.cpu_model is not None and cur.cpu_model is not None  # older: none
    mine, theirs = _machine(base, with_model), _machine(cur, with_model)
    if mine == theirs:
        return []
    return [f"another machine: {mine} vs {theirs} (throughput is compared as ratios to Go direct)"]


def comparability(baseline: RunSummary, current: RunSummary) -> tuple[list[str], list[str]]:
    """(why the runs are not comparable, notes that do not stop the comparison)."""
    problems = []
    if baseline.profile != current.profile:
        problems.append(f"profile {baseline.profile} vs {current.profile}")
    # Settings are compared when both runs recorded them (schema 2 on): a version 1
    # baseline has none, which is not the same as none set.
    recorded = min(baseline.schema_version, current.schema_version) >= 2
    problems += conditions(baseline.environment, current.environment, settings=recorded)
    return problems, machine_notes(baseline.environment, current.environment)


def _go_direct_twin(row: ScenarioRow, by_id: Mapping[str, ScenarioRow]) -> ScenarioRow | None:
    if row.target != BRIDGE:
        return None
    twin = by_id.get(row.id.replace(f"/{BRIDGE}/", f"/{GO_DIRECT}/", 1))
    return twin if twin is not None and twin.ok else None


def _memory_checks(base: ScenarioRow, cur: ScenarioRow, tol: CompareTolerances) -> list[Check]:
    checks = []
    for proc, base_growth in base.rss_growth_bytes.items():
        cur_growth = cur.rss_growth_bytes.get(proc)
        if proc != LOADGEN and cur_growth is not None:  # the load generator is not under test
            checks.append(
                higher_is_worse(
                    base.id,
                    f"rss_growth/{proc}",
                    base_growth,
                    cur_growth,
                    tol.memory_fraction,
                    tol.memory_slack_bytes,
                )
            )
    for name, base_peak in base.container_peak_bytes.items():
        cur_peak = cur.container_peak_bytes.get(name)
        if cur_peak is not None:
            checks.append(
                higher_is_worse(
                    base.id,
                    f"container_peak/{name}",
                    base_peak,
                    cur_peak,
                    tol.container_fraction,
                    tol.container_slack_bytes,
                )
            )
    return checks


def _rate_check(
    base: ScenarioRow,
    cur: ScenarioRow,
    base_ids: Mapping[str, ScenarioRow],
    cur_ids: Mapping[str, ScenarioRow],
    tol: CompareTolerances,
    value: str,
) -> Check | None:
    """Throughput (`value` "mb_s") or req/s ("req_s"): as the ratio to the Go-direct
    twin of the same run when both runs have one, else raw."""

    def figure(row: ScenarioRow | None) -> float | None:
        if row is None:
            return None
        return row.throughput_mb_s if value == "mb_s" else row.requests_per_s

    base_v, cur_v = figure(base), figure(cur)
    if not base_v or not cur_v:
        return None
    base_ref = figure(_go_direct_twin(base, base_ids))
    cur_ref = figure(_go_direct_twin(cur, cur_ids))
    name = "throughput" if value == "mb_s" else "req_s"
    unit = "MB/s" if value == "mb_s" else "req/s"
    if base_ref and cur_ref:
        check = lower_is_worse(
            base.id,
            f"{name}/go-direct",
            base_v / base_ref,
            cur_v / cur_ref,
            tol.throughput_fraction,
        )
        check.note = f"{base_v:.0f} -> {cur_v:.0f} {unit} raw"
        return check
    metric = "throughput_mb_s" if value == "mb_s" else "req_s"
    return lower_is_worse(base.id, metric, base_v, cur_v, tol.throughput_fraction)


def _p99_check(base: ScenarioRow, cur: ScenarioRow, tol: CompareTolerances) -> Check | None:
    if base.latency_ms is None or cur.latency_ms is None:
        return None
    return higher_is_worse(
        base.id,
        "p99_ms",
        base.latency_ms.p99,
        cur.latency_ms.p99,
        tol.latency_fraction,
        tol.latency_slack_ms,
    )


def _scenario_checks(
    base: ScenarioRow,
    cur: ScenarioRow,
    base_ids: Mapping[str, ScenarioRow],
    cur_ids: Mapping[str, ScenarioRow],
    tol: CompareTolerances,
) -> list[Check]:
    if base.ok and not cur.ok:
        return [Check(base.id, "ok", 1, 0, None, "REGRESSION", str(cur.error))]
    if not base.ok:
        return []
    checks = _memory_checks(base, cur, tol)
    if base.kind == "rps":
        optional = [
            _rate_check(base, cur, base_ids, cur_ids, tol, "req_s"),
            _p99_check(base, cur, tol),
        ]
    else:
        optional = [_rate_check(base, cur, base_ids, cur_ids, tol, "mb_s")]
    checks += [c for c in optional if c is not None]
    if base.target != BRIDGE:
        for check in checks:
            if check.status == "REGRESSION":  # the peers are context, not under test
                check.status = "info"
                check.note = (check.note + " reference: not gated").strip()
    return checks


def _leak_figures(summary: RunSummary) -> dict[str, tuple[float, float, bool]]:
    """leak/<counter>/c<chunk> verdicts: (growth per request, limit, passed)."""
    out = {}
    for v in summary.verdicts:
        growth = v.figures.get("growth_per_request")
        limit = v.figures.get("limit_per_request")
        if (
            v.name.startswith("leak/")
            and isinstance(growth, int | float)
            and isinstance(limit, int | float)
        ):
            out[v.name] = (float(growth), float(limit), v.passed)
    return out


def _leak_checks(baseline: RunSummary, current: RunSummary) -> list[Check]:
    base_leaks = _leak_figures(baseline)
    checks = []
    for name, (cur_growth, limit, passed) in _leak_figures(current).items():
        base_growth = base_leaks.get(name, (None, None, None))[0]
        note = "" if name in base_leaks else "not in the baseline"
        checks.append(
            Check(
                name,
                "leak_growth/request",
                base_growth,
                cur_growth,
                limit,
                "ok" if passed else "REGRESSION",
                note,
            )
        )
    return checks


def compare(
    baseline: RunSummary, current: RunSummary, tol: CompareTolerances | None = None
) -> Comparison:
    tol = tol or CompareTolerances()
    problems, notes = comparability(baseline, current)
    if problems:
        raise NotComparable(current.path or "the current run", problems)
    base_ids, cur_ids = baseline.by_id(), current.by_id()
    missing = sorted(set(base_ids) - set(cur_ids))
    if missing:
        raise CompareError(
            f"{current.path or 'current run'} lacks scenarios of the baseline: "
            f"{', '.join(missing)} (run the same profile and scenarios, or update the baseline)"
        )
    result = Comparison(tolerances=tol.describe(), notes=notes)
    for sid, base in base_ids.items():
        result.checks += _scenario_checks(base, cur_ids[sid], base_ids, cur_ids, tol)
    result.checks += _leak_checks(baseline, current)
    return result
