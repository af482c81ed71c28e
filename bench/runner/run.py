"""A run, top to bottom: run -> observe -> judge -> report.

1. run and observe (`measure`): for every chunk setting, start the services
   (bench/runner/services.py), sample them (bench/observe/), plan the profile's
   scenarios (bench/scenarios/) and run each with the engine;
2. judge (`judge`): verdicts over every result and the sampled timeline
   (bench/judge/);
3. report: summary.json, summary.md, timeline.json and the plots
   (bench/report/).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.judge import assess
from bench.judge.verdicts import Tolerances, Verdict, container_memory
from bench.observe.container_memory import ContainerMemorySampler, start_sampler
from bench.observe.samplers import Sampler, Timeline, container_figures_reader
from bench.report.environment import environment, host_build
from bench.report.progress import ScenarioLog
from bench.report.summary import build_summary, utc_stamp, write_run
from bench.runner.engine import Engine
from bench.runner.services import Services, docker_pair, external, spawned
from bench.runner.tools import ToolSteps, run_tool_steps
from bench.scenarios import build_scenarios
from bench.scenarios.base import ScenarioResult
from bench.scenarios.profiles import Profile, human_size

log = logging.getLogger(__name__)

ServicesFactory = Callable[[int], contextlib.AbstractContextManager[Services]]


@dataclass(frozen=True)
class RunPlan:
    """What one `bench run` or `bench sweep` measures and where it writes."""

    profile: Profile
    chunk_sizes: list[int]
    kinds: list[str] | None  # None: every kind
    mode: str  # "spawned", "external" (running services) or "docker" (container pairs)
    run_dir: Path
    sample_interval_s: float = 0.05
    tools: ToolSteps | None = None  # pytest-benchmark and Locust after the first setting


@dataclass
class Measured:
    """Everything a run observed, before any verdict."""

    timeline: Timeline
    results: list[ScenarioResult] = field(default_factory=list)
    containers: dict[str, Any] = field(default_factory=dict)  # "<service>/c<chunk>" -> figures
    steps: dict[str, Any] = field(default_factory=dict)  # the other tools' outcomes
    environment: dict[str, Any] = field(default_factory=dict)


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
    run_dir: Path,
    references: set[str],
    *,
    target_url: str | None = None,
    stats_url: str | None = None,
    docker: bool = False,
) -> tuple[ServicesFactory, str]:
    """The services of each chunk setting, and the run's mode."""
    if docker:
        return docker_pair, "docker"
    if target_url:
        return (lambda chunk: external(target_url, stats_url)), "external"

    def make(chunk: int) -> contextlib.AbstractContextManager[Services]:
        return spawned(chunk, run_dir / "logs" / f"c{human_size(chunk)}", references)

    return make, "spawned"


@contextlib.contextmanager
def only_targets(
    manager: contextlib.AbstractContextManager[Services], keep: set[str]
) -> Iterator[Services]:
    with manager as services:
        services.targets = {k: v for k, v in services.targets.items() if k in keep}
        yield services


@contextlib.contextmanager
def observed(
    sampler: Sampler, services: Services, compose: bool
) -> Iterator[ContainerMemorySampler | None]:
    """While inside, the sampler follows the services' processes, /debug/stats and
    containers (yields the container sampler, when Docker answers)."""
    for name, pid in services.processes.items():
        sampler.add_process(name, pid)
    sampler.set_stats_url(services.stats_url)
    containers = start_sampler(services.containers, compose=compose)
    if containers is not None:
        sampler.container_reader = container_figures_reader(containers.figures)
    try:
        yield containers
    finally:
        if containers is not None:
            containers.stop()
            sampler.container_reader = None
        for name in services.processes:
            sampler.remove_process(name)
        sampler.set_stats_url(None)


def run_scenarios(
    plan: RunPlan, chunk: int, services: Services, engine: Engine, progress: ScenarioLog
) -> list[ScenarioResult]:
    """The plan's scenarios at one chunk setting, after one warm-up per target."""
    from tqdm import tqdm

    scenarios = build_scenarios(plan.profile, chunk, services.targets, plan.kinds)
    for name in sorted({s.target for s in scenarios}):
        engine.warm_up(services.targets[name], chunk)
    results = []
    bar = tqdm(scenarios, desc=f"chunk {human_size(chunk)}", unit="scenario", disable=None)
    for done, scenario in enumerate(bar, start=1):
        results.append(engine.run(scenario, services.targets[scenario.target]))
        progress.finished(done, len(scenarios), results[-1])
    return results


def measure(plan: RunPlan, factory: ServicesFactory, tolerances: Tolerances) -> Measured:
    """Run the plan's scenarios at every chunk setting while the sampler watches."""
    sampler = Sampler(interval_s=plan.sample_interval_s)
    measured = Measured(sampler.timeline, environment=environment(plan.chunk_sizes, plan.mode))
    progress = ScenarioLog()
    with sampler:
        for index, chunk in enumerate(plan.chunk_sizes):
            compose = plan.mode != "spawned"
            with factory(chunk) as services, observed(sampler, services, compose) as containers:
                measured.environment.update(host_build(services.stats_url))
                engine = Engine(sampler, tolerances)
                measured.results += run_scenarios(plan, chunk, services, engine, progress)
                if plan.tools is not None and index == 0:
                    measured.steps = run_tool_steps(
                        plan.tools, services, plan.run_dir, plan.profile
                    )
            if containers is not None:
                for name, figures in containers.report().items():
                    measured.containers[f"{name}/c{human_size(chunk)}"] = figures
    return measured


def judge(measured: Measured, tolerances: Tolerances) -> list[Verdict]:
    """Every verdict of the run: from the results and timeline, and each container's."""
    verdicts = assess.all_verdicts(measured.results, measured.timeline, tolerances)
    verdicts += [container_memory(name, fig) for name, fig in sorted(measured.containers.items())]
    return verdicts


def execute(plan: RunPlan, factory: ServicesFactory) -> dict[str, Any]:
    """Measure, judge, write the run folder; the summary.json document."""
    tolerances = Tolerances()
    measured = measure(plan, factory, tolerances)
    summary = build_summary(
        profile=plan.profile.name,
        mode=plan.mode,
        chunk_sizes=plan.chunk_sizes,
        results=measured.results,
        timeline=measured.timeline,
        verdicts=judge(measured, tolerances),
        steps=measured.steps,
        containers=measured.containers,
        run_id=plan.run_dir.name,
        env=measured.environment,
        sweep=len(plan.chunk_sizes) > 1,
    )
    write_run(plan.run_dir, summary, measured.timeline, measured.results)
    return summary
