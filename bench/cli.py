"""`python -m bench run | sweep | rps | ab | capacity | compare | baseline | history | report`.

Every subcommand that measures plans runs on the one pipeline (bench/runner/run.py:
plan -> run -> observe -> judge -> report); see docs/bench.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Any

from bench import figures
from bench.capacity import command as capacity_command
from bench.capacity import report as capacity_report
from bench.capacity.gate import compare_capacity
from bench.core.paths import BASELINE_DIR, RESULTS_DIR
from bench.core.profiles import get_profile
from bench.core.targets import BRIDGE, GO_DIRECT, GRPC_FLOOR, SPAWNED_REFERENCES
from bench.core.units import parse_size
from bench.judge import compare
from bench.report import comparison, history
from bench.report.baseline import copy_baseline
from bench.report.markdown import sweep_markdown
from bench.report.rows import SWEEP_KINDS
from bench.results import Summary, SummaryError, load_summary
from bench.results.capacity import CapacityRun
from bench.results.run import RunSummary
from bench.runner.flags import add_target_flags, check_target_flags, name_list, service_options
from bench.runner.rounds import ABPlan, NoTargetsError, execute_ab
from bench.runner.run import RunPlan, execute, new_run_dir
from bench.runner.services import Variant
from bench.runner.stack import StackError
from bench.runner.tools import ToolSteps
from bench.scenarios import KINDS
from bench.scenarios.files import FileDownload
from bench.scenarios.latency import SMALL_BODY_BYTES, SMALL_TARGETS, Rps
from bench.scenarios.transfer import Download, Upload

log = logging.getLogger("bench")

SWEEP_CHUNKS = (16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024)
AB_SCENARIOS = ("rps", "download", "upload", "file")
# The targets that answer each A/B scenario (the gRPC floor answers downloads and
# files only): the rounds' default when --targets is not given.
AB_TARGETS = {
    "rps": SMALL_TARGETS,
    "download": (BRIDGE, *Download.references),
    "upload": (BRIDGE, *Upload.references),
    "file": (BRIDGE, *FileDownload.references),
}


COMPARE_HELP = """\
Gate CURRENT against BASELINE: two run summaries (bench run/sweep) or two capacity
summaries (bench capacity). Only like is compared with like: runs of another
profile, mode (spawned/external/docker), chunk sizes or service settings, and
capacity ramps under another memory cap, TTFB SLO, levels, stream size, or with
other targets/modes, are NOT COMPARABLE: exit 2 with the differences named,
never a quiet pass. A higher capacity or throughput is reported as improved.
The output states each tolerance beside the verdict, and which checks could
not have seen a 2x regression of their own baseline figure.

exit status: 0 no regression, 1 regression, 2 not comparable or unusable input
"""


def _chunk_list(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"chunk sizes must be integers, got {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"chunk sizes must be positive, got {text!r}")
    return sizes


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _variant(text: str) -> Variant:
    try:
        return Variant.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _finish(summary: RunSummary, run_dir: Path) -> int:
    print((run_dir / "summary.md").read_text())
    print(f"results written to {run_dir}")
    failed = [v.name for v in summary.failed_verdicts()]
    if failed:
        print(f"verdicts failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    references = () if args.no_references else SPAWNED_REFERENCES
    plan = RunPlan(
        profile,
        args.chunk_sizes or list(profile.chunk_sizes),
        args.scenarios,
        new_run_dir(Path(args.results_dir)),
        service_options(args, references),
        sample_interval_s=args.sample_interval,
        tools=ToolSteps(
            pytest_benchmark=not args.no_pytest_benchmark,
            locust=not args.no_locust,
            locust_seconds=args.locust_seconds,
        ),
        targets=frozenset(args.targets) if args.targets else None,
    )
    summary = execute(plan)
    capacity_report.link_latest(plan.run_dir, summary)  # the newest capacity figures, if any
    return _finish(summary, plan.run_dir)


def cmd_sweep(args: argparse.Namespace) -> int:
    base = get_profile(args.profile)
    size = args.size or base.sweep_size
    profile = dataclasses.replace(base, sizes=(size,), reference_sizes=(size,), file_sizes=(size,))
    plan = RunPlan(
        profile,
        args.chunk_sizes or list(SWEEP_CHUNKS),
        list(SWEEP_KINDS),
        new_run_dir(Path(args.results_dir)),
        service_options(args, (), docker=args.docker),
        sample_interval_s=args.sample_interval,
        targets=frozenset(args.targets or (BRIDGE, GO_DIRECT, GRPC_FLOOR)),
    )
    summary = execute(plan)
    (plan.run_dir / "sweep.md").write_text(sweep_markdown(summary.sweep or []) + "\n")
    return _finish(summary, plan.run_dir)


def _ab_scenario(args: argparse.Namespace, kind: str, chunk: int) -> Any:
    """The scenario every target runs in each round."""
    if kind == "rps":
        return lambda target: Rps(
            target,
            chunk,
            size=SMALL_BODY_BYTES,
            concurrency=args.connections,
            seconds=args.seconds,
            warmup_s=args.warmup,
        )
    if kind == "download":
        return lambda target: Download(target, chunk, size=args.size)
    if kind == "upload":
        return lambda target: Upload(target, chunk, size=args.size, hashed=not args.no_hash)
    return lambda target: FileDownload(target, chunk, size=args.size)


def cmd_ab(args: argparse.Namespace, kind: str | None = None) -> int:
    """Targets and bridge variants alive at once, measured in alternating rounds."""
    kind = kind or args.scenario
    if args.target_url:
        print("bench: rounds start their own services (no --target-url)", file=sys.stderr)
        return 2
    chunk = (args.chunk_sizes or [1024 * 1024])[0]
    references = () if args.no_references else SPAWNED_REFERENCES
    if kind != "rps" and args.size is None:
        args.size = 512 * 1024 * 1024
    plan = ABPlan(
        profile=get_profile(args.profile),
        scenario_for=_ab_scenario(args, kind, chunk),
        kind=kind,
        chunk=chunk,
        rounds=args.rounds,
        run_dir=new_run_dir(Path(args.results_dir)),
        references=frozenset(service_options(args, references).references),
        variants=tuple(args.variant or ()),
        targets=tuple(args.targets or AB_TARGETS[kind]),
        reference=args.reference,
        file_sizes=(args.size,) if kind == "file" else (),
        sample_interval_s=args.sample_interval,
    )
    try:
        execute_ab(plan)
    except NoTargetsError as exc:
        print(f"bench {args.command}: {exc}", file=sys.stderr)
        return 2
    print((plan.run_dir / "summary.md").read_text())
    print(f"results written to {plan.run_dir}")
    return 0


def gate(
    baseline: Summary, current: Summary, tol: compare.CompareTolerances | None = None
) -> compare.Comparison:
    """The gate of the summaries' kind: a run's (bench/judge/compare.py) or a capacity
    ramp's (bench/capacity/gate.py); CompareError for kinds that do not compare."""
    if isinstance(baseline, CapacityRun) != isinstance(current, CapacityRun):
        raise compare.CompareError("a capacity run compares only with a capacity run")
    if isinstance(baseline, CapacityRun) and isinstance(current, CapacityRun):
        return compare_capacity(baseline, current, tol)
    if isinstance(baseline, RunSummary) and isinstance(current, RunSummary):
        return compare.compare(baseline, current, tol)
    raise compare.CompareError("A/B runs are not gated: read their ratios")


def _append_markdown(args: argparse.Namespace, text: str) -> None:
    """--markdown FILE and $GITHUB_STEP_SUMMARY get the comparison's markdown."""
    targets = [args.markdown] if args.markdown else []
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        targets.append(os.environ["GITHUB_STEP_SUMMARY"])
    for target in targets:
        with open(target, "a") as out:
            out.write(text)


def cmd_compare(args: argparse.Namespace) -> int:
    tol = compare.CompareTolerances(
        memory_fraction=args.memory_tolerance,
        throughput_fraction=args.throughput_tolerance,
        latency_fraction=args.latency_tolerance,
    )
    try:
        baseline, current = load_summary(args.baseline), load_summary(args.current)
        result = gate(baseline, current, tol)
    except compare.NotComparable as exc:
        print(f"bench compare: NOT COMPARABLE (exit 2): {exc.detail}", file=sys.stderr)
        _append_markdown(
            args, comparison.not_comparable_markdown(exc, str(args.baseline), str(args.current))
        )
        return 2
    except (SummaryError, compare.CompareError) as exc:
        print(f"bench compare: {exc}", file=sys.stderr)
        return 2
    print(comparison.terminal_table(result))
    _append_markdown(args, comparison.markdown(result, baseline.path, current.path))
    return 1 if result.regressions else 0


def cmd_baseline(args: argparse.Namespace) -> int:
    try:
        target = copy_baseline(
            Path(args.run_dir), Path(args.baseline_dir), args.name, allow_dirty=args.allow_dirty
        )
    except (FileNotFoundError, SummaryError) as exc:
        print(f"bench baseline: {exc}", file=sys.stderr)
        return 2
    print(f"baseline updated: {target}")
    return 0


def _add_round_flags(p: argparse.ArgumentParser) -> None:
    add_target_flags(p)
    p.add_argument("--chunk-sizes", type=_chunk_list, help="the first one is used (default 1 MiB)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, every target once in each")
    p.add_argument("--connections", type=int, default=32, help="rps: keep-alive connections")
    p.add_argument("--seconds", type=float, default=3.0, help="rps: measured seconds per round")
    p.add_argument("--warmup", type=float, default=0.5, help="rps: unmeasured seconds per round")
    p.add_argument(
        "--variant",
        type=_variant,
        action="append",
        help="a bridge started from another tree/env, NAME=TREE[;ENV=VALUE...] (repeatable; "
        "BENCH_PLUGIN_PYTHON=... picks the plugin's interpreter, HOSTSTUB_BIN=... the host)",
    )
    p.add_argument("--reference", help="ratios to this target (default python-direct)")
    p.add_argument("--no-references", action="store_true", help="start no spawned peer")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the scenarios, write results/<UTC timestamp>/")
    add_target_flags(run)
    run.add_argument("--chunk-sizes", type=_chunk_list, help="comma-separated bytes")
    run.add_argument(
        "--scenarios", type=name_list(KINDS), help="comma-separated kinds (default all)"
    )
    run.add_argument(
        "--no-references",
        action="store_true",
        help="start no spawned peer (python-direct, buffered, go-plugin)",
    )
    run.add_argument("--no-locust", action="store_true")
    run.add_argument("--no-pytest-benchmark", action="store_true")
    run.add_argument("--locust-seconds", type=int, help="default: the profile's")
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser(
        "sweep", help="download, upload, file and file-offload across chunk sizes"
    )
    add_target_flags(sweep)
    sweep.add_argument("--chunk-sizes", type=_chunk_list, help="comma-separated bytes")
    sweep.add_argument("--size", type=_size, help="bytes per transfer (default: profile's)")
    sweep.add_argument("--docker", action="store_true", help="a container pair per setting")
    sweep.set_defaults(func=cmd_sweep)

    rps_ = sub.add_parser(
        "rps", help="small-request req/s of the bridge, its peers and variants, rounds alternating"
    )
    _add_round_flags(rps_)
    rps_.set_defaults(func=lambda args: cmd_ab(args, "rps"), size=None, no_hash=False)

    ab = sub.add_parser("ab", help="one scenario against targets and variants, rounds alternating")
    _add_round_flags(ab)
    ab.add_argument("--scenario", choices=AB_SCENARIOS, default="rps")
    ab.add_argument("--size", type=_size, help="bytes per transfer (default 512m)")
    ab.add_argument("--no-hash", action="store_true", help="upload: ?hash=none (the transport)")
    ab.set_defaults(func=cmd_ab)

    cmp_ = sub.add_parser(
        "compare",
        help="exit 1 when CURRENT regressed against BASELINE, 2 when they are not comparable",
        description=COMPARE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    base.add_argument(
        "--allow-dirty",
        action="store_true",
        help="accept a run made from a tree with uncommitted changes",
    )
    base.set_defaults(func=cmd_baseline)

    history.add_parser(sub, RESULTS_DIR)
    figures.add_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    problem = check_target_flags(args)
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except StackError as exc:  # a service that did not start: its log tail says why
        print(f"bench {args.command}: the services did not start: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
