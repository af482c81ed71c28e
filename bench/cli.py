"""`python -m bench run | sweep | compare | baseline` (see docs/bench.md)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.capacity import command as capacity_command
from bench.capacity import report as capacity_report
from bench.judge import assess, compare
from bench.judge.verdicts import Tolerances, container_memory
from bench.observe.samplers import Sampler, container_figures_reader
from bench.report import history
from bench.report import summary as report
from bench.report.progress import ScenarioLog
from bench.runner.engine import Engine
from bench.runner.services import Services, docker_pair, external, spawned
from bench.runner.stack import REPO_ROOT
from bench.runner.targets import BRIDGE, BUFFERED, GO_DIRECT, PYTHON_DIRECT
from bench.scenarios import build_scenarios
from bench.scenarios.base import ScenarioResult
from bench.scenarios.profiles import PROFILES, Profile, get_profile, human_size

log = logging.getLogger("bench")

SWEEP_CHUNKS = (16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024)
LOCUSTFILE = REPO_ROOT / "bench" / "load" / "locustfile.py"
BENCHMARKS_DIR = REPO_ROOT / "bench" / "benchmarks"
BASELINE_DIR = REPO_ROOT / "results" / "baseline"


def _chunk_list(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"chunk sizes must be integers, got {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"chunk sizes must be positive, got {text!r}")
    return sizes


def _name_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


ServicesFactory = Callable[[int], contextlib.AbstractContextManager[Services]]


def _container_sampler(services: Services, external_mode: bool) -> Any | None:
    """bench/docker_env.py's sampler for compose or a docker pair, when Docker answers."""
    try:
        from bench.observe import container_memory as docker_env
    except ImportError as exc:
        log.info("no container memory: %s", exc)
        return None
    try:
        if services.containers:
            return docker_env.ContainerMemorySampler(services.containers).start()
        if external_mode and os.path.exists("/var/run/docker.sock"):
            client = docker_env.docker_client(timeout=5)
            return docker_env.ContainerMemorySampler.for_compose(client).start()
    except Exception as exc:  # Docker absent or not compose: psutil/stats still measure
        log.info("no container memory: %s", exc)
    return None


def _run_step(name: str, args: list[str], run_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    log_path = run_dir / f"{name}.log"
    log.info("running %s: %s", name, " ".join(args))
    with log_path.open("wb") as out:
        try:
            proc = subprocess.run(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                env={**os.environ, **env},
                timeout=900,
            )
        except subprocess.TimeoutExpired:
            return {"status": "failed", "detail": f"timed out; see {log_path.name}"}
    status = "ok" if proc.returncode == 0 else "failed"
    return {"status": status, "returncode": proc.returncode, "detail": f"log {log_path.name}"}


def run_tool_steps(
    args: argparse.Namespace, services: Services, run_dir: Path, profile: Profile
) -> dict[str, Any]:
    """pytest-benchmark and Locust against the same services, output into the run folder."""
    steps: dict[str, Any] = {}
    env: dict[str, str] = {}
    if not services.processes:
        # Running services (compose): point the suite at them. Spawned runs let the
        # suite start its own pair, so it sees PIDs (psutil) as well.
        env["BENCH_TARGET_URL"] = services.targets[BRIDGE].base_url
        env["BENCH_STATS_URL"] = services.stats_url or ""
    if args.no_pytest_benchmark:
        steps["pytest-benchmark"] = {"status": "skipped", "detail": "--no-pytest-benchmark"}
    elif not BENCHMARKS_DIR.is_dir():
        steps["pytest-benchmark"] = {"status": "skipped", "detail": f"{BENCHMARKS_DIR} absent"}
    else:
        steps["pytest-benchmark"] = _run_step(
            "pytest-benchmark",
            [
                sys.executable,
                *("-m", "pytest", str(BENCHMARKS_DIR.relative_to(REPO_ROOT))),
                f"--benchmark-json={run_dir / 'pytest-benchmark.json'}",
                *("-p", "no:cacheprovider", "-q"),
            ],
            run_dir,
            env,
        )
    if args.no_locust:
        steps["locust"] = {"status": "skipped", "detail": "--no-locust"}
    elif not LOCUSTFILE.is_file():
        steps["locust"] = {"status": "skipped", "detail": f"{LOCUSTFILE} absent"}
    elif shutil.which("locust", path=str(Path(sys.executable).parent)) is None:
        steps["locust"] = {"status": "skipped", "detail": "locust not installed"}
    else:
        seconds = args.locust_seconds or profile.locust_seconds
        steps["locust"] = _run_step(
            "locust",
            [
                str(Path(sys.executable).parent / "locust"),
                *("-f", str(LOCUSTFILE.relative_to(REPO_ROOT))),
                "--headless",
                *("--host", services.targets[BRIDGE].base_url),
                *("-u", "8", "-r", "8", "-t", f"{seconds}s"),
                *("--csv", str(run_dir / "locust"), "--html", str(run_dir / "locust.html")),
                "--only-summary",
            ],
            run_dir,
            env,
        )
    return steps


def execute(
    args: argparse.Namespace,
    profile: Profile,
    chunk_sizes: list[int],
    kinds: list[str] | None,
    factory: ServicesFactory,
    mode: str,
    run_dir: Path,
    tool_steps: bool,
) -> dict[str, Any]:
    """Run the scenarios for every chunk setting, then write the run folder."""
    from tqdm import tqdm

    tolerances = Tolerances()
    results: list[ScenarioResult] = []
    steps: dict[str, Any] = {}
    containers: dict[str, Any] = {}
    sampler = Sampler(interval_s=args.sample_interval)
    scenario_log = ScenarioLog()
    env = report.environment(chunk_sizes, mode)
    with sampler:
        for index, chunk in enumerate(chunk_sizes):
            with factory(chunk) as services:
                for name, pid in services.processes.items():
                    sampler.add_process(name, pid)
                sampler.set_stats_url(services.stats_url)
                container_sampler = _container_sampler(services, mode != "spawned")
                if container_sampler is not None:
                    sampler.container_reader = container_figures_reader(container_sampler.figures)
                env.update(report.host_build(services.stats_url))
                scenarios = build_scenarios(profile, chunk, services.targets, kinds)
                engine = Engine(sampler, tolerances)
                for name in sorted({s.target for s in scenarios}):
                    engine.warm_up(services.targets[name], chunk)
                desc = f"chunk {human_size(chunk)}"
                bar = tqdm(scenarios, desc=desc, unit="scenario", disable=None)
                for done, scenario in enumerate(bar, start=1):
                    results.append(engine.run(scenario, services.targets[scenario.target]))
                    scenario_log.finished(done, len(scenarios), results[-1])
                if tool_steps and index == 0:
                    steps = run_tool_steps(args, services, run_dir, profile)
                if container_sampler is not None:
                    container_sampler.stop()
                    for name, fig in container_sampler.report().items():
                        containers[f"{name}/c{human_size(chunk)}"] = fig
                    sampler.container_reader = None
                for name in services.processes:
                    sampler.remove_process(name)
                sampler.set_stats_url(None)
    verdicts = assess.all_verdicts(results, sampler.timeline, tolerances)
    verdicts += [container_memory(name, fig) for name, fig in sorted(containers.items())]
    summary = report.build_summary(
        profile=profile.name,
        mode=mode,
        chunk_sizes=chunk_sizes,
        results=results,
        timeline=sampler.timeline,
        verdicts=verdicts,
        steps=steps,
        containers=containers,
        run_id=run_dir.name,
        env=env,
    )
    if len(chunk_sizes) > 1:
        summary["sweep"] = report.sweep_table(summary["scenarios"])
    report.write_run(run_dir, summary, sampler.timeline, results)
    return summary


def _factory(args: argparse.Namespace, run_dir: Path, references: set[str]) -> tuple[Any, str]:
    if getattr(args, "docker", False):
        return docker_pair, "docker"
    if args.target_url:
        return (lambda chunk: external(args.target_url, args.stats_url)), "external"

    def make(chunk: int) -> contextlib.AbstractContextManager[Services]:
        return spawned(chunk, run_dir / "logs" / f"c{human_size(chunk)}", references)

    return make, "spawned"


def _new_run_dir(results_dir: Path) -> Path:
    run_dir = results_dir / report.utc_stamp()
    suffix = 1
    while run_dir.exists():
        run_dir = results_dir / f"{report.utc_stamp()}-{suffix}"
        suffix += 1
    run_dir.mkdir(parents=True)
    return run_dir


def _finish(summary: dict[str, Any], run_dir: Path) -> int:
    print((run_dir / "summary.md").read_text())
    print(f"results written to {run_dir}")
    failed = [v["name"] for v in summary["verdicts"] if not v["passed"]]
    if failed:
        print(f"verdicts failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    kinds = args.scenarios
    run_dir = _new_run_dir(Path(args.results_dir))
    references = {PYTHON_DIRECT, BUFFERED} if not args.no_references else set()
    factory, mode = _factory(args, run_dir, references)
    summary = execute(
        args,
        profile,
        args.chunk_sizes or list(profile.chunk_sizes),
        kinds,
        factory,
        mode,
        run_dir,
        tool_steps=True,
    )
    capacity_report.link_latest(run_dir)  # the newest capacity figures, when there are any
    return _finish(summary, run_dir)


def cmd_sweep(args: argparse.Namespace) -> int:
    base = get_profile(args.profile)
    size = args.size or base.sweep_size
    profile = dataclasses.replace(base, sizes=(size,), reference_sizes=(size,))
    run_dir = _new_run_dir(Path(args.results_dir))
    factory, mode = _factory(args, run_dir, set())
    args.no_pytest_benchmark = args.no_locust = True
    summary = execute(
        args,
        profile,
        args.chunk_sizes or list(SWEEP_CHUNKS),
        ["download", "upload"],
        lambda chunk: _only_targets(factory(chunk), {BRIDGE, GO_DIRECT}),
        mode,
        run_dir,
        tool_steps=False,
    )
    (run_dir / "sweep.md").write_text(report.sweep_markdown(summary.get("sweep", [])) + "\n")
    return _finish(summary, run_dir)


@contextlib.contextmanager
def _only_targets(
    manager: contextlib.AbstractContextManager[Services], keep: set[str]
) -> Iterator[Services]:
    with manager as services:
        services.targets = {k: v for k, v in services.targets.items() if k in keep}
        yield services


def cmd_rps(args: argparse.Namespace) -> int:
    """Small-request throughput of the bridge and its references, rounds alternating."""
    import psutil

    from bench.load import rps

    run_dir = _new_run_dir(Path(args.results_dir))
    references = {PYTHON_DIRECT} if not args.no_references else set()
    chunk = (args.chunk_sizes or [1024 * 1024])[0]
    factory, _mode = _factory(args, run_dir, references)
    with factory(chunk) as services:
        procs = {name: psutil.Process(pid) for name, pid in services.processes.items()}

        def read_processes() -> dict[str, dict[str, float]]:
            out = {}
            for name, proc in procs.items():
                cpu = proc.cpu_times()
                out[name] = {"cpu_seconds": cpu.user + cpu.system}
            return out

        wanted = args.targets or [BRIDGE, PYTHON_DIRECT, GO_DIRECT]
        targets = {name: services.targets[name] for name in wanted if name in services.targets}
        by_target = rps.alternate(
            targets,
            rounds=args.rounds,
            connections=args.connections,
            seconds=args.seconds,
            warmup_s=args.warmup,
            read_processes=read_processes,
        )
    table = rps.alternate_markdown(by_target)
    (run_dir / "rps.md").write_text(table + "\n")
    (run_dir / "rps.json").write_text(json.dumps(by_target, indent=2) + "\n")
    print(table)
    print(f"results written to {run_dir}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    tol = compare.CompareTolerances(
        memory_fraction=args.memory_tolerance,
        throughput_fraction=args.throughput_tolerance,
        latency_fraction=args.latency_tolerance,
    )
    try:
        baseline = compare.load_summary(args.baseline)
        current = compare.load_summary(args.current)
        result = compare.compare(baseline, current, tol)
    except compare.CompareError as exc:
        print(f"bench compare: {exc}", file=sys.stderr)
        return 2
    print(compare.terminal_table(result))
    md = compare.markdown(result, baseline["_path"], current["_path"])
    targets = [args.markdown] if args.markdown else []
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        targets.append(os.environ["GITHUB_STEP_SUMMARY"])
    for target in targets:
        with open(target, "a") as out:
            out.write(md)
    return 1 if result.regressions else 0


def cmd_baseline(args: argparse.Namespace) -> int:
    try:
        target = report.copy_baseline(Path(args.run_dir), Path(args.baseline_dir), args.name)
    except (FileNotFoundError, ValueError) as exc:
        print(f"bench baseline: {exc}", file=sys.stderr)
        return 2
    print(f"baseline updated: {target}")
    return 0


def _add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile", default="quick", choices=sorted(PROFILES), help="run size (default quick)"
    )
    p.add_argument("--chunk-sizes", type=_chunk_list, help="comma-separated bytes")
    p.add_argument("--results-dir", default=str(REPO_ROOT / "results"))
    p.add_argument("--target-url", help="use a running host (e.g. http://host:8065)")
    p.add_argument("--stats-url", help="its /debug/stats URL (with --target-url)")
    p.add_argument("--sample-interval", type=float, default=0.05, help="seconds (psutil)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the scenarios, write results/<UTC timestamp>/")
    _add_target_args(run)
    run.add_argument("--scenarios", type=_name_list, help="comma-separated kinds (default all)")
    run.add_argument("--no-references", action="store_true", help="skip python-direct/buffered")
    run.add_argument("--no-locust", action="store_true")
    run.add_argument("--no-pytest-benchmark", action="store_true")
    run.add_argument("--locust-seconds", type=int, help="default: the profile's")
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser("sweep", help="download/upload across chunk sizes")
    _add_target_args(sweep)
    sweep.add_argument("--size", type=int, help="bytes per transfer (default: profile's)")
    sweep.add_argument("--docker", action="store_true", help="a container pair per setting")
    sweep.set_defaults(func=cmd_sweep)

    rps_ = sub.add_parser(
        "rps", help="small-request req/s of the bridge and references, rounds alternating"
    )
    _add_target_args(rps_)
    rps_.add_argument("--rounds", type=int, default=3, help="rounds (best one counts)")
    rps_.add_argument("--connections", type=int, default=32)
    rps_.add_argument("--seconds", type=float, default=3.0, help="measured seconds per round")
    rps_.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds per round")
    rps_.add_argument("--targets", type=_name_list, help="default bridge,python-direct,go-direct")
    rps_.add_argument("--no-references", action="store_true", help="skip python-direct")
    rps_.set_defaults(func=cmd_rps)

    cmp_ = sub.add_parser("compare", help="exit 1 when CURRENT regressed against BASELINE")
    cmp_.add_argument("baseline", help="summary.json or run folder")
    cmp_.add_argument("current", help="summary.json or run folder")
    cmp_.add_argument("--memory-tolerance", type=float, default=0.5, help="fraction (+8 MiB)")
    cmp_.add_argument("--throughput-tolerance", type=float, default=0.25, help="fraction")
    cmp_.add_argument(
        "--latency-tolerance", type=float, default=0.5, help="fraction (+2 ms), small-request p99"
    )
    cmp_.add_argument("--markdown", help="also append the markdown table to this file")
    cmp_.set_defaults(func=cmd_compare)

    capacity_command.add_parser(sub)

    base = sub.add_parser(
        "baseline", help="copy RUN_DIR's summary into results/baseline/<mode>-<profile>/"
    )
    base.add_argument("run_dir")
    base.add_argument("--baseline-dir", default=str(BASELINE_DIR), help="root of the baselines")
    base.add_argument("--name", help="folder name (default <mode>-<profile>, e.g. spawned-quick)")
    base.set_defaults(func=cmd_baseline)

    history.add_parser(sub, REPO_ROOT / "results")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if getattr(args, "scenarios", None):
        from bench.scenarios import KINDS

        unknown = set(args.scenarios) - set(KINDS)
        if unknown:
            print(
                f"bench: unknown scenarios {sorted(unknown)}; known: {', '.join(KINDS)}",
                file=sys.stderr,
            )
            return 2
    if getattr(args, "stats_url", None) and not getattr(args, "target_url", None):
        print("bench: --stats-url needs --target-url", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
