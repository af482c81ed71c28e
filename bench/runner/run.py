"""A run, top to bottom: plan -> run -> observe -> judge -> report.

1. plan (`RunPlan`, `ServiceOptions`): the profile, chunk settings and kinds,
   and which services to start or use;
2. run and observe (`measure`): for every chunk setting, start the services
   (bench/runner/services.py), sample them (bench/observe/), plan the profile's
   scenarios (bench/scenarios/) and run each with the engine;
3. judge (`judge`): verdicts over every result and the sampled timeline
   (bench/judge/);
4. report: the RunSummary, summary.md, timeline.json and the plots
   (bench/report/).

A sweep is this run over more chunk settings; an A/B (bench/runner/rounds.py)
and the capacity ramp (bench/capacity/) plan their runs on the same pieces.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.core.profiles import Profile
from bench.core.units import human_size
from bench.judge import assess
from bench.judge.verdicts import Tolerances
from bench.observe.samplers import Sampler, Timeline
from bench.observe.wiring import observing
from bench.report.environment import environment, record_services
from bench.report.progress import ScenarioLog
from bench.report.summary import build_summary, utc_stamp, write_run
from bench.results.containers import ContainerFigures
from bench.results.environment import Environment
from bench.results.run import RunSummary, ToolStep
from bench.results.verdict import Verdict
from bench.runner.engine import Engine
from bench.runner.files import files_root
from bench.runner.services import Services, Variant, docker_pair, external, spawned
from bench.runner.tools import ToolSteps, run_tool_steps
from bench.scenarios import FILE_KINDS, KINDS, build_scenarios
from bench.scenarios.base import ScenarioResult

log = logging.getLogger(__name__)

ServicesFactory = Callable[[int], contextlib.AbstractContextManager[Services]]


@dataclass(frozen=True)
class ServiceOptions:
    """Which services a run measures: spawned (with which references), running ones
    (their URLs), or container pairs."""

    references: frozenset[str] = frozenset()  # spawned peers beside the bridge
    target_url: str | None = None  # running services: the host's base URL
    stats_url: str | None = None
    go_plugin_url: str | None = None  # running services: the Go plugin host's base URL
    files_root: Path | None = None  # where the files the host and plugin serve go
    docker: bool = False  # a container pair per chunk setting (sweep --docker)
    variant: Variant | None = None  # spawned from another tree / interpreter / binary

    @property
    def mode(self) -> str:
        return "docker" if self.docker else "external" if self.target_url else "spawned"


@dataclass(frozen=True)
class RunPlan:
    """What one `bench run` or `bench sweep` measures and where it writes."""

    profile: Profile
    chunk_sizes: list[int]
    kinds: list[str] | None  # None: every kind
    run_dir: Path
    services: ServiceOptions = ServiceOptions()
    sample_interval_s: float = 0.05
    tools: ToolSteps | None = None  # pytest-benchmark and Locust after the first setting
    targets: frozenset[str] | None = None  # None: every target the services have

    @property
    def mode(self) -> str:
        return self.services.mode

    def file_sizes(self) -> list[int]:
        """The files the run's file scenarios ask for (none when it runs none)."""
        wanted = set(self.kinds if self.kinds is not None else KINDS)
        return list(self.profile.file_sizes) if wanted & set(FILE_KINDS) else []


@dataclass
class Measured:
    """Everything a run observed, before any verdict."""

    timeline: Timeline
    environment: Environment
    results: list[ScenarioResult] = field(default_factory=list)
    containers: dict[str, ContainerFigures] = field(default_factory=dict)  # "<svc>/c<chunk>"
    steps: dict[str, ToolStep] = field(default_factory=dict)


def new_run_dir(results_dir: Path) -> Path:
    """results/<UTC timestamp>/, with a suffix when two runs start in the same second."""
    run_dir = results_dir / utc_stamp()
    suffix = 1
    while run_dir.exists():
        run_dir = results_dir / f"{utc_stamp()}-{suffix}"
        suffix += 1
    run_dir.mkdir(parents=True)
    return run_dir


def services_factory(
    options: ServiceOptions, log_root: Path, files: Path | None = None
) -> ServicesFactory:
    """The services of each chunk setting."""
    if options.docker:
        return docker_pair

    if options.target_url:
        url = options.target_url

        def running(chunk: int) -> contextlib.AbstractContextManager[Services]:
            return external(
                url, options.stats_url, go_plugin_url=options.go_plugin_url, files_root=files
            )

        return running

    def make(chunk: int) -> contextlib.AbstractContextManager[Services]:
        return spawned(
            chunk,
            log_root / f"c{human_size(chunk)}",
            set(options.references),
            files_root=files,
            variant=options.variant,
        )

    return make


def run_scenarios(
    plan: RunPlan, chunk: int, services: Services, engine: Engine, progress: ScenarioLog
) -> list[ScenarioResult]:
    """The plan's scenarios at one chunk setting, after one warm-up per target."""
    from tqdm import tqdm

    kinds = plan.kinds
    if services.files_root is None:  # no shared folder: the file scenarios cannot run
        kinds = [k for k in (kinds or KINDS) if k not in FILE_KINDS]
    scenarios = build_scenarios(plan.profile, chunk, services.targets, kinds)
    for name in sorted({s.target for s in scenarios}):
        engine.warm_up(services.targets[name], chunk)
    results = []
    bar = tqdm(scenarios, desc=f"chunk {human_size(chunk)}", unit="scenario", disable=None)
    for done, scenario in enumerate(bar, start=1):
        results.append(engine.run(scenario, services.targets[scenario.target]))
        progress.finished(done, len(scenarios), results[-1])
    return results


def measure(plan: RunPlan, factory: ServicesFactory) -> Measured:
    """Run the plan's scenarios at every chunk setting while the sampler watches."""
    sampler = Sampler(interval_s=plan.sample_interval_s)
    measured = Measured(sampler.timeline, environment(plan.chunk_sizes, plan.mode))
    progress = ScenarioLog()
    with sampler:
        for index, chunk in enumerate(plan.chunk_sizes):
            with factory(chunk) as services:
                if plan.targets is not None:
                    services.only(set(plan.targets))
                with observing(
                    sampler,
                    services.processes,
                    services.stats_urls,
                    services.containers,
                    compose=plan.mode != "spawned",
                ) as containers:
                    if index == 0:
                        record_services(measured.environment, services.stats_url)
                    engine = Engine(sampler)
                    measured.results += run_scenarios(plan, chunk, services, engine, progress)
                    if plan.tools is not None and index == 0:
                        measured.steps = run_tool_steps(
                            plan.tools, services, plan.run_dir, plan.profile
                        )
            if containers is not None:
                for name, figures in containers.records().items():
                    measured.containers[f"{name}/c{human_size(chunk)}"] = figures
    return measured


def judge(measured: Measured, tolerances: Tolerances) -> list[Verdict]:
    """Every verdict of the run: from the results, the timeline and the containers."""
    return assess.all_verdicts(measured.results, measured.timeline, tolerances, measured.containers)


@contextlib.contextmanager
def prepared_files(plan: RunPlan) -> Iterator[Path | None]:
    """The run's files root, when its scenarios serve files and the services can."""
    options = plan.services
    sizes = plan.file_sizes()
    if options.docker or (options.target_url and options.files_root is None):
        if sizes:
            log.warning("no shared files root for these services: file scenarios skipped")
        sizes = []
    with files_root(sizes, options.files_root) as root:
        yield root


def execute(plan: RunPlan) -> RunSummary:
    """Measure, judge, write the run folder; the run's summary."""
    tolerances = Tolerances()
    with prepared_files(plan) as files:
        factory = services_factory(plan.services, plan.run_dir / "logs", files)
        measured = measure(plan, factory)
    summary = build_summary(
        profile=plan.profile.name,
        environment=measured.environment,
        results=measured.results,
        timeline=measured.timeline,
        verdicts=judge(measured, tolerances),
        steps=measured.steps,
        containers=measured.containers,
        run_id=plan.run_dir.name,
        sweep=len(plan.chunk_sizes) > 1,
    )
    write_run(plan.run_dir, summary, measured.timeline, measured.results)
    return summary
