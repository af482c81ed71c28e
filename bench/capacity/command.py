"""`python -m bench capacity`: a ramp per target and mode, one run folder.

Spawned (default): a fresh host + plugin pair (and the reference's process) per
ramp, so every ramp starts from idle processes; targets bridge, go-direct,
python-direct (uvicorn) and buffered. With --target-url (compose): the running
host's bridge and go-direct, memory from /debug/stats and, with the Docker
socket, container working sets and OOM kills; a killed container is started
again before the next ramp.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.capacity import report
from bench.capacity.model import MODES, CapacityRun, LevelResult, Limits, Ramp
from bench.capacity.ramp import (
    DEFAULT_MEMORY_CAP,
    DEFAULT_TTFB_SLO_S,
    RAMP_PROFILES,
    doubling_levels,
    failed_ramp,
    parse_levels,
    run_ramp,
)
from bench.capacity.runner import LevelRunner, StreamPlan
from bench.observe.container_memory import parse_mem_limit, start_sampler
from bench.observe.samplers import Sampler, container_figures_reader
from bench.runner.engine import Engine
from bench.runner.run import new_run_dir
from bench.runner.services import Services, external, spawned
from bench.runner.stack import REPO_ROOT, StackError, wait_ready
from bench.runner.targets import BRIDGE, BUFFERED, GO_DIRECT, PYTHON_DIRECT, TARGETS, Target

log = logging.getLogger("bench.capacity")

EXTERNAL_TARGETS = (BRIDGE, GO_DIRECT)  # what a running host serves
DEFAULT_CHUNK = 1024 * 1024
STREAM_TIMEOUT_S = 60.0


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"BENCH_CAPACITY_{name}") or default


def _levels_arg(text: str) -> list[int]:
    try:
        return parse_levels(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _choices(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(allowed)}"
            )
        return names

    return parse


def _size(text: str) -> int:
    try:
        return parse_mem_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# flag, its environment variable (BENCH_CAPACITY_<NAME>), parser, default, help
RAMP_FLAGS: tuple[tuple[str, str, Callable[[str], Any], str | None, str], ...] = (
    ("--levels", "LEVELS", _levels_arg, None,
     "explicit levels, e.g. 1,2,4 (default: 1, 2, 4, ... up to the profile's maximum)"),
    ("--max-concurrency", "MAX_CONCURRENCY", int, None,
     "ramp 1, 2, 4, ... up to this instead of the profile's maximum"),
    ("--stream-bytes", "STREAM_BYTES", _size, None,
     "body bytes per stream (default: the profile's; 8m, 1g or bytes)"),
    ("--min-level-bytes", "MIN_LEVEL_BYTES", _size, None,
     "levels repeat transfers on each stream until they move this much (default: the "
     "profile's; 0: one transfer per stream)"),
    ("--targets", "TARGETS", _choices(TARGETS), None,
     f"comma-separated, of {', '.join(TARGETS)} (default: all available)"),
    ("--modes", "MODES", _choices(MODES), None,
     "comma-separated, of download, upload, mixed (default all)"),
    ("--memory-cap", "MEMORY_CAP", _size, "128m",
     "peak RSS / container working set a level may reach (default 128m)"),
    ("--ttfb-slo-ms", "TTFB_SLO_MS", float, str(DEFAULT_TTFB_SLO_S * 1000),
     "p99 time to first byte of a level's downloads may reach (default 2000)"),
)  # fmt: skip


def add_parser(sub: Any) -> None:
    """Registers `capacity` on `python -m bench`'s subcommands (flags also from env)."""
    p = sub.add_parser(
        "capacity",
        help="concurrency ramp: how many streams each target holds, results/<UTC timestamp>/",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--profile",
        default=_env("PROFILE", os.environ.get("BENCH_PROFILE", "quick")),
        choices=sorted(RAMP_PROFILES),
        help="ramp size (default quick: up to 128 streams of 8 MiB) [BENCH_CAPACITY_PROFILE, "
        "BENCH_PROFILE]",
    )
    for flag, env, kind, default, text in RAMP_FLAGS:
        p.add_argument(
            flag, type=kind, default=_env(env, default), help=f"{text} [BENCH_CAPACITY_{env}]"
        )
    p.add_argument(
        "--chunk-bytes",
        type=int,
        default=DEFAULT_CHUNK,
        help="the demo's write size, upload piece size and bridge chunk (default 1 MiB)",
    )
    p.add_argument("--results-dir", default=str(REPO_ROOT / "results"))
    p.add_argument("--target-url", help="use a running host (e.g. http://host:8065)")
    p.add_argument("--stats-url", help="its /debug/stats URL (with --target-url)")
    p.add_argument("--sample-interval", type=float, default=0.05, help="seconds (psutil)")
    p.set_defaults(func=cmd_capacity)


def _levels(args: argparse.Namespace) -> list[int]:
    if args.levels:
        return list(args.levels)
    return doubling_levels(int(args.max_concurrency or RAMP_PROFILES[args.profile].max_concurrency))


def _listed(value: list[str] | str | None, allowed: tuple[str, ...]) -> list[str]:
    if value is None:
        return list(allowed)
    return _choices(allowed)(value) if isinstance(value, str) else value


def _revive(containers: dict[str, Any], host_url: str | None) -> None:
    """Start containers a level killed, so the next ramp measures a live stack."""
    started = False
    for container in containers.values():
        container.reload()
        if container.status != "running":
            log.warning("starting %s again after it stopped", container.name)
            container.start()
            started = True
    if started and host_url:
        wait_ready(f"{host_url}/healthz", [], timeout=90)


def _progress(level: LevelResult) -> None:
    peaks = ", ".join(f"{p.name} {p.peak_bytes / 2**20:.0f} MiB" for p in level.processes)
    status = "held" if level.held else "BROKE: " + "; ".join(level.breaches)
    print(
        f"  {level.target}/{level.mode} x{level.concurrency}: {level.aggregate_mb_s:.0f} MB/s, "
        f"{peaks or 'no memory figures'}; {status}",
        file=sys.stderr,
        flush=True,
    )


@dataclass(frozen=True)
class RampSettings:
    """What every ramp of one command shares."""

    levels: list[int]
    limits: Limits
    stream_bytes: int
    min_level_bytes: int
    chunk: int


def _ramp_one(
    sampler: Sampler,
    services: Services,
    target: Target,
    mode: str,
    settings: RampSettings,
    containers: dict[str, Any] | None = None,
) -> Ramp:
    """One ramp against one running target, sampled on the shared timeline."""
    for name, pid in target.processes.items():
        sampler.add_process(name, pid)
    sampler.set_stats_url(services.stats_url)
    try:
        Engine(sampler).warm_up(target, settings.chunk)
        plan = StreamPlan(target, settings.stream_bytes, settings.chunk, STREAM_TIMEOUT_S)
        runner = LevelRunner(sampler, plan, mode, settings.min_level_bytes, containers)
        return run_ramp(
            target.name, mode, settings.levels, runner, settings.limits, on_level=_progress
        )
    finally:
        for name in target.processes:
            sampler.remove_process(name)
        sampler.set_stats_url(None)


def _spawned_ramps(
    sampler: Sampler, settings: RampSettings, targets: list[str], modes: list[str], logs: Path
) -> list[Ramp]:
    """A fresh host + plugin (+ reference) per ramp: each starts from idle processes."""
    ramps = []
    for name in targets:
        for mode in modes:
            references = {name} & {PYTHON_DIRECT, BUFFERED}
            try:
                with spawned(settings.chunk, logs / f"{name}-{mode}", references) as services:
                    ramps.append(
                        _ramp_one(sampler, services, services.targets[name], mode, settings)
                    )
            except StackError as exc:
                ramps.append(failed_ramp(name, mode, settings.levels[0], f"did not start: {exc}"))
    return ramps


def _external_ramps(
    sampler: Sampler,
    settings: RampSettings,
    targets: list[str],
    modes: list[str],
    args: argparse.Namespace,
    notes: list[str],
) -> list[Ramp]:
    """The running host's targets, one ramp after the other (a killed container restarted)."""
    ramps = []
    with external(args.target_url, args.stats_url) as services:
        container_sampler = start_sampler(services.containers, compose=True)
        containers = dict(container_sampler.containers) if container_sampler else None
        if container_sampler is not None and not container_sampler.wait_first_samples():
            notes.append("a container's memory could not be read within 30 s")
        if container_sampler is not None:
            sampler.container_reader = container_figures_reader(container_sampler.figures)
        else:
            notes.append("no container figures (no Docker socket): memory from /debug/stats")
        missing = [t for t in targets if t not in services.targets]
        if missing:
            notes.append(f"not served by a running host, skipped: {', '.join(missing)}")
        try:
            for name in (t for t in targets if t in services.targets):
                for mode in modes:
                    if containers:
                        _revive(containers, args.target_url.rstrip("/"))
                    target = services.targets[name]
                    ramps.append(_ramp_one(sampler, services, target, mode, settings, containers))
        finally:
            if container_sampler is not None:
                container_sampler.stop()
                sampler.container_reader = None
    return ramps


def cmd_capacity(args: argparse.Namespace) -> int:
    from bench.report.environment import environment

    try:
        levels = _levels(args)
        targets = _listed(args.targets, EXTERNAL_TARGETS if args.target_url else TARGETS)
        modes = _listed(args.modes, MODES)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        print(f"bench capacity: {exc}", file=sys.stderr)
        return 2
    if args.stats_url and not args.target_url:
        print("bench capacity: --stats-url needs --target-url", file=sys.stderr)
        return 2
    settings = RampSettings(
        levels=levels,
        limits=Limits(int(args.memory_cap or DEFAULT_MEMORY_CAP), float(args.ttfb_slo_ms) / 1000),
        stream_bytes=int(args.stream_bytes or RAMP_PROFILES[args.profile].stream_bytes),
        min_level_bytes=int(
            RAMP_PROFILES[args.profile].min_level_bytes
            if args.min_level_bytes is None
            else args.min_level_bytes
        ),
        chunk=args.chunk_bytes,
    )
    run_dir = new_run_dir(Path(args.results_dir))
    run = CapacityRun(
        run_id=run_dir.name,
        created_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        profile=args.profile,
        levels=levels,
        limits=settings.limits,
        environment=environment([settings.chunk], "external" if args.target_url else "spawned"),
    )
    run.environment["stream_bytes"] = settings.stream_bytes
    run.environment["min_level_bytes"] = settings.min_level_bytes
    print(
        f"capacity ramp {levels} x {settings.stream_bytes / 2**20:g} MiB per stream, "
        f"targets {targets}, modes {modes}, cap {settings.limits.memory_cap_bytes / 2**20:.0f} "
        f"MiB, TTFB SLO {settings.limits.ttfb_slo_s * 1000:.0f} ms -> {run_dir}",
        file=sys.stderr,
        flush=True,
    )
    with Sampler(interval_s=args.sample_interval) as sampler:
        if args.target_url:
            run.ramps = _external_ramps(sampler, settings, targets, modes, args, run.notes)
        else:
            run.ramps = _spawned_ramps(sampler, settings, targets, modes, run_dir / "logs")
    report.write_capacity_run(run_dir, run)
    print((run_dir / "summary.md").read_text())
    print(f"results written to {run_dir}")
    # A target that never started is a broken run, not a capacity of 0.
    return 1 if any(r.reason.startswith("did not start") for r in run.ramps) else 0
