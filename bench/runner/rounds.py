"""Rounds alternating: every target once per round, in turn, on the run's own engine.

`bench rps` and `bench ab` plan their runs this way: the bridge, its peers and
any bridge variants (another tree, interpreter or host binary: `Variant`) are
alive at once, and each round runs one scenario against each of them, so a
shared machine's load falls on all of them alike. The figures that count are
the medians over the rounds and each round's ratio to the reference measured
beside it (bench/results/ab.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.core.numbers import median
from bench.core.profiles import Profile
from bench.core.tables import fmt, md_table, per_name
from bench.core.targets import BRIDGE, PYTHON_DIRECT, Target
from bench.observe.samplers import Sampler
from bench.observe.wiring import observing
from bench.report.environment import environment, record_services
from bench.report.rows import scenario_row
from bench.report.summary import utc_now
from bench.results.ab import ABRound, ABRun, ABTarget
from bench.results.format import write_json
from bench.results.run import ScenarioRow
from bench.runner.engine import Engine
from bench.runner.files import files_root
from bench.runner.services import Services, Variant, spawned
from bench.scenarios.base import Scenario

log = logging.getLogger(__name__)

ScenarioFor = Callable[[str], Scenario]  # target name -> the scenario it runs each round


@dataclass(frozen=True)
class ABPlan:
    profile: Profile
    scenario_for: ScenarioFor
    kind: str  # the scenario kind (rps, download, upload, file)
    chunk: int
    rounds: int
    run_dir: Path
    references: frozenset[str] = frozenset()
    variants: tuple[Variant, ...] = ()
    targets: tuple[str, ...] | None = None  # None: every one started
    reference: str | None = None  # ratios to this target (default: python-direct or the first)
    file_sizes: tuple[int, ...] = ()
    sample_interval_s: float = 0.05
    specs: dict[str, str] = field(default_factory=dict)


def _renamed(target: Target, name: str) -> Target:
    """A variant's bridge under the variant's name, its processes prefixed so the
    sampler tells the variants' hosts and plugins apart."""
    processes = {f"{name}:{proc}": pid for proc, pid in target.processes.items()}
    return dataclasses.replace(target, name=name, processes=processes)


@contextlib.contextmanager
def ab_services(
    chunk: int,
    log_root: Path,
    references: set[str],
    variants: Sequence[Variant],
    files: Path | None,
) -> Iterator[Services]:
    """This tree's bridge (or, with variants, one bridge per variant) and the references
    (from the first), all alive at once."""
    with contextlib.ExitStack() as exits:
        combined = Services(targets={})
        for index, variant in enumerate(variants or [None]):
            services = exits.enter_context(
                spawned(
                    chunk,
                    log_root / (variant.name if variant else BRIDGE),
                    references if index == 0 else set(),
                    files_root=files,
                    variant=variant,
                )
            )
            if variant is not None:
                bridge = _renamed(services.targets.pop(BRIDGE), variant.name)
                if index > 0:  # Go direct and the floor are the first variant's host's
                    services.targets, services.processes = {}, {}
                services.targets[variant.name] = bridge
                services.processes.update(bridge.processes)
            combined.targets.update(services.targets)
            combined.processes.update(services.processes)
            combined.stats_urls = combined.stats_urls or services.stats_urls
        yield combined


def alternate(
    engine: Engine,
    targets: dict[str, Target],
    scenario_for: ScenarioFor,
    rounds: int,
    on_result: Callable[[int, str, ScenarioRow], None] = lambda *_: None,
) -> dict[str, list[ScenarioRow]]:
    """Every target once per round, in turn; the rows of each target, round by round."""
    out: dict[str, list[ScenarioRow]] = {name: [] for name in targets}
    for index in range(rounds):
        for name, target in targets.items():
            result = engine.run(scenario_for(name), target)
            row = scenario_row(result, engine.sampler.timeline)
            out[name].append(row)
            on_result(index, name, row)
    return out


def _unprefixed(values: dict[str, float], target: str) -> dict[str, float]:
    return {k.removeprefix(f"{target}:"): v for k, v in values.items()}


def ab_round(row: ScenarioRow) -> ABRound:
    """The figures of one target in one round."""
    lat = row.latency_ms
    if row.kind == "rps":
        extra = row.extra
        return ABRound(
            value=float(extra.get("requests_per_s") or 0.0) if row.ok else 0.0,
            p50_ms=lat.p50 if lat else None,
            p99_ms=lat.p99 if lat else None,
            cpu=_unprefixed(dict(extra.get("cpu_us_per_request") or {}), row.target),
            client_cpu_cores=extra.get("client_cpu_cores"),
            errors=int(extra.get("errors") or 0) + (0 if row.ok else 1),
        )
    return ABRound(
        value=float(row.throughput_mb_s or 0.0) if row.ok else 0.0,
        p50_ms=lat.p50 if lat else None,
        p99_ms=lat.p99 if lat else None,
        cpu=_unprefixed(row.cpu_seconds_per_gib, row.target),
        errors=0 if row.ok else 1,
    )


def round_line(index: int, name: str, row: ScenarioRow) -> str:
    r = ab_round(row)
    unit = "req/s" if row.kind == "rps" else "MB/s"
    return (
        f"round {index + 1} {name}: {r.value:.0f} {unit}, p50 {fmt(r.p50_ms, '.2f')} ms, "
        f"p99 {fmt(r.p99_ms, '.2f')} ms, CPU {per_name(r.cpu)}, {r.errors} errors"
        + ("" if row.ok else f" ({row.error})")
    )


def ab_markdown(run: ABRun) -> str:
    """Medians per target, every round, and the ratios to the reference."""
    rows = []
    for t in run.targets:
        ratios = run.ratios(t.name)
        rows.append(
            [
                t.name,
                fmt(t.median_value),
                fmt(t.best.value if t.best else None),
                fmt(t.median_of("p50_ms"), ".2f"),
                fmt(t.median_of("p99_ms"), ".2f"),
                per_name(t.median_cpu(), ".2f" if run.cpu_unit == "s/GiB" else ".0f"),
                ", ".join(f"{r.value:.0f}" for r in t.rounds),
                "-"
                if t.name == run.reference or not ratios
                else f"{median(ratios):.2f} ({', '.join(f'{x:.2f}' for x in ratios)})",
            ]
        )
    header = [
        "target",
        f"median {run.unit}",
        "best",
        "p50 ms",
        "p99 ms",
        f"CPU {run.cpu_unit}",
        f"rounds {run.unit}",
        f"/ {run.reference} (median, per round)",
    ]
    rounds = len(run.targets[0].rounds) if run.targets else 0
    lines = [
        f"# streambench A/B {run.run_id}: {run.scenario}, {rounds} rounds",
        "",
        run.environment.line(),
        "",
        md_table(header, rows),
    ]
    specs = [f"- {t.name}: `{t.spec}`" for t in run.targets if t.spec]
    return "\n".join([*lines, *(["", *specs] if specs else [])]) + "\n"


class NoTargetsError(ValueError):
    """--targets kept none of the targets the rounds started."""


def kept_targets(targets: Sequence[str], variants: Sequence[Variant]) -> set[str]:
    """The target names `--targets` keeps: with variants, `bridge` stands for every
    variant's bridge (each runs under the variant's name)."""
    kept = set(targets)
    if BRIDGE in kept:
        kept |= {v.name for v in variants}
    return kept


def execute_ab(plan: ABPlan) -> ABRun:
    """Start everything, run the rounds, write summary.json and summary.md."""
    env = environment([plan.chunk], "spawned")
    with (
        files_root(plan.file_sizes) as files,
        Sampler(interval_s=plan.sample_interval_s) as sampler,
    ):
        with ab_services(
            plan.chunk, plan.run_dir / "logs", set(plan.references), plan.variants, files
        ) as services:
            if plan.targets is not None:
                services.only(kept_targets(plan.targets, plan.variants))
            if not services.targets:
                asked = ",".join(plan.targets or ())
                raise NoTargetsError(f"no target left to run: --targets {asked}")
            with observing(sampler, services.processes, services.stats_urls):
                record_services(env, services.stats_url)
                rows = alternate(
                    Engine(sampler),
                    services.targets,
                    plan.scenario_for,
                    plan.rounds,
                    lambda i, n, r: print(round_line(i, n, r), flush=True),
                )
    names = list(rows)
    reference = plan.reference or (PYTHON_DIRECT if PYTHON_DIRECT in names else names[0])
    specs = {v.name: v.spec for v in plan.variants}
    run = ABRun(
        run_id=plan.run_dir.name,
        created_utc=utc_now(),
        profile=plan.profile.name,
        scenario=plan.kind,
        unit="req/s" if plan.kind == "rps" else "MB/s",
        cpu_unit="us/request" if plan.kind == "rps" else "s/GiB",
        environment=env,
        targets=[ABTarget(n, specs.get(n, ""), [ab_round(r) for r in rows[n]]) for n in names],
        reference=reference,
        files=["summary.json", "summary.md"],
    )
    write_json(plan.run_dir / "summary.json", run.to_json())
    (plan.run_dir / "summary.md").write_text(ab_markdown(run))
    return run
