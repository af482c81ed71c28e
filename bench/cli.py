"""`python -m bench run | sweep | compare | baseline` (see docs/bench.md)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from bench.capacity import command as capacity_command
from bench.capacity import report as capacity_report
from bench.judge import compare
from bench.report import history
from bench.report.baseline import copy_baseline
from bench.report.markdown import sweep_markdown
from bench.runner.run import (
    RunPlan,
    ServicesFactory,
    execute,
    new_run_dir,
    only_targets,
    services_factory,
)
from bench.runner.stack import REPO_ROOT
from bench.runner.targets import BRIDGE, BUFFERED, GO_DIRECT, PYTHON_DIRECT
from bench.runner.tools import ToolSteps
from bench.scenarios import KINDS
from bench.scenarios.profiles import PROFILES, Profile, get_profile

log = logging.getLogger("bench")

SWEEP_CHUNKS = (16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024)
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


def _finish(summary: dict[str, Any], run_dir: Path) -> int:
    print((run_dir / "summary.md").read_text())
    print(f"results written to {run_dir}")
    failed = [v["name"] for v in summary["verdicts"] if not v["passed"]]
    if failed:
        print(f"verdicts failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _plan(
    args: argparse.Namespace,
    profile: Profile,
    chunk_sizes: list[int],
    references: set[str],
    **plan: Any,
) -> tuple[RunPlan, ServicesFactory]:
    """A new run folder, the services of each chunk setting, and what to run against them."""
    run_dir = new_run_dir(Path(args.results_dir))
    factory, mode = services_factory(
        run_dir,
        references,
        target_url=args.target_url,
        stats_url=args.stats_url,
        docker=getattr(args, "docker", False),
    )
    return RunPlan(
        profile,
        chunk_sizes,
        mode=mode,
        run_dir=run_dir,
        sample_interval_s=args.sample_interval,
        **plan,
    ), factory


def cmd_run(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    references = {PYTHON_DIRECT, BUFFERED} if not args.no_references else set()
    plan, factory = _plan(
        args,
        profile,
        args.chunk_sizes or list(profile.chunk_sizes),
        references,
        kinds=args.scenarios,
        tools=ToolSteps(
            pytest_benchmark=not args.no_pytest_benchmark,
            locust=not args.no_locust,
            locust_seconds=args.locust_seconds,
        ),
    )
    summary = execute(plan, factory)
    capacity_report.link_latest(plan.run_dir)  # the newest capacity figures, when there are any
    return _finish(summary, plan.run_dir)


def cmd_sweep(args: argparse.Namespace) -> int:
    base = get_profile(args.profile)
    size = args.size or base.sweep_size
    profile = dataclasses.replace(base, sizes=(size,), reference_sizes=(size,))
    chunk_sizes = args.chunk_sizes or list(SWEEP_CHUNKS)
    plan, factory = _plan(args, profile, chunk_sizes, set(), kinds=["download", "upload"])
    summary = execute(plan, lambda chunk: only_targets(factory(chunk), {BRIDGE, GO_DIRECT}))
    sweep_md = sweep_markdown(summary.get("sweep", []))
    (plan.run_dir / "sweep.md").write_text(sweep_md + "\n")
    return _finish(summary, plan.run_dir)


def cmd_rps(args: argparse.Namespace) -> int:
    """Small-request throughput of the bridge and its references, rounds alternating."""
    import psutil

    from bench.load import rps

    run_dir = new_run_dir(Path(args.results_dir))
    references = {PYTHON_DIRECT} if not args.no_references else set()
    chunk = (args.chunk_sizes or [1024 * 1024])[0]
    factory, _mode = services_factory(
        run_dir, references, target_url=args.target_url, stats_url=args.stats_url
    )
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
        target = copy_baseline(Path(args.run_dir), Path(args.baseline_dir), args.name)
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
