"""`python -m bench capacity`: a ramp per target and mode, one run folder.

Modes: download, upload, mixed (the default), and file (a file of the files root
streamed through the plugin; Go direct and uvicorn serve the same file) and
file-offload (the plugin names the file, the host serves it; Go direct's file
ramp runs beside it), on the same transfers and N-streams runner as `bench run`.

Spawned (default): a fresh host + plugin pair (and the peer's process) per
ramp, so every ramp starts from idle processes (`--fresh`: per level); targets
bridge, go-direct, python-direct (uvicorn), buffered and go-plugin. With
--target-url (compose): the running host's bridge and go-direct (and the Go
plugin's with --go-plugin-url), memory from /debug/stats and, with the Docker
socket, container working sets and OOM kills; a killed container is started
again before the next ramp.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.capacity import report
from bench.capacity.level import LevelRunner
from bench.capacity.ramp import DEFAULT_TTFB_SLO_S, failed_ramp, run_ramp
from bench.core.profiles import PROFILES, doubling_levels, parse_levels
from bench.core.targets import (
    BRIDGE,
    BUFFERED,
    GO_DIRECT,
    GO_PLUGIN,
    PYTHON_DIRECT,
    SPAWNED_REFERENCES,
    Target,
)
from bench.core.units import MiB, parse_size
from bench.load.streams import StreamPlan
from bench.observe.samplers import Sampler
from bench.observe.wiring import observing
from bench.report.environment import environment, record_services
from bench.report.summary import utc_now
from bench.results.capacity import (
    DEFAULT_MODES,
    DOWNLOAD,
    FILE,
    FILE_OFFLOAD,
    MIXED,
    MODES,
    UPLOAD,
    CapacityRun,
    LevelResult,
    Limits,
    Ramp,
    RampSettings,
)
from bench.runner.engine import Engine
from bench.runner.files import files_root
from bench.runner.flags import add_target_flags, check_target_flags, name_list, service_options
from bench.runner.ready import answers_ok
from bench.runner.run import ServiceOptions, new_run_dir
from bench.runner.services import Services, external, spawned
from bench.runner.stack import StackError, wait_ready

log = logging.getLogger("bench.capacity")

STREAM_TIMEOUT_S = 60.0
DEFAULT_CHUNK = 1024 * 1024
RAMP_TARGETS = (BRIDGE, GO_DIRECT, PYTHON_DIRECT, BUFFERED, GO_PLUGIN)
# Which targets serve each mode: files come from the files root (the host's own
# route, uvicorn's, or the plugin's), an offload only through the bridge.
MODE_TARGETS = {
    DOWNLOAD: RAMP_TARGETS,
    UPLOAD: RAMP_TARGETS,
    MIXED: RAMP_TARGETS,
    FILE: (BRIDGE, GO_DIRECT, PYTHON_DIRECT),
    FILE_OFFLOAD: (BRIDGE,),
}


def ramp_plan(targets: list[str], modes: list[str]) -> list[tuple[str, str]]:
    """(target, mode) of every ramp, in order. An offloaded file is served by the host
    as Go direct serves it (http.ServeContent), so beside the bridge's offload ramp goes
    Go direct's file ramp, once, when Go direct is a target."""
    plan = [(t, m) for t in targets for m in modes if t in MODE_TARGETS[m]]
    if FILE_OFFLOAD in modes and GO_DIRECT in targets and (GO_DIRECT, FILE) not in plan:
        plan.append((GO_DIRECT, FILE))
    return plan


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"BENCH_CAPACITY_{name}") or default


def _argtype(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def checked(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return checked


# flag, its environment variable (BENCH_CAPACITY_<NAME>), parser, default, help
RAMP_FLAGS: tuple[tuple[str, str, Callable[[str], Any], str | None, str], ...] = (
    ("--levels", "LEVELS", _argtype(parse_levels), None,
     "explicit levels, e.g. 1,2,4 (default: 1, 2, 4, ... up to the profile's maximum)"),
    ("--max-concurrency", "MAX_CONCURRENCY", int, None,
     "ramp 1, 2, 4, ... up to this instead of the profile's maximum"),
    ("--stream-bytes", "STREAM_BYTES", _argtype(parse_size), None,
     "body bytes per stream (default: the profile's; 8m, 1g or bytes)"),
    ("--min-level-bytes", "MIN_LEVEL_BYTES", _argtype(parse_size), None,
     "levels repeat transfers on each stream until they move this much (default: the "
     "profile's; 0: one transfer per stream)"),
    ("--modes", "MODES", name_list(MODES), None,
     f"comma-separated, of {', '.join(MODES)} (default {','.join(DEFAULT_MODES)})"),
    ("--memory-cap", "MEMORY_CAP", _argtype(parse_size), "128m",
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
    add_target_flags(p, _env("PROFILE", os.environ.get("BENCH_PROFILE", "quick")) or "quick")
    p.set_defaults(targets=_env("TARGETS"))
    for flag, env, kind, default, text in RAMP_FLAGS:
        p.add_argument(
            flag, type=kind, default=_env(env, default), help=f"{text} [BENCH_CAPACITY_{env}]"
        )
    p.add_argument(
        "--chunk-bytes", type=int, default=DEFAULT_CHUNK,
        help="the demo's write size, upload piece size and bridge chunk (default 1 MiB)",
    )  # fmt: skip
    p.add_argument(
        "--fresh", action="store_true", default=bool(_env("FRESH")),
        help="start the target's processes again for every level (spawned only), so a "
        "level's peak is not what earlier levels left [BENCH_CAPACITY_FRESH]",
    )  # fmt: skip
    p.add_argument(
        "--same-bytes", action="store_true", default=bool(_env("SAME_BYTES")),
        help="every level moves as many bytes as the highest: a transfer at N streams carries "
        "stream-bytes x max(levels) / N [BENCH_CAPACITY_SAME_BYTES]",
    )  # fmt: skip
    p.set_defaults(func=cmd_capacity)


def _listed(
    value: list[str] | str | None, allowed: tuple[str, ...], default: tuple[str, ...]
) -> list[str]:
    if value is None:
        return list(default)
    return name_list(allowed)(value) if isinstance(value, str) else value


def _revive(containers: dict[str, Any], health_urls: dict[str, str]) -> None:
    """Bring the stack back after a ramp broke it, so the next ramp measures a live
    one: start a container that stopped (an OOM kill), and restart one that runs but
    whose /healthz fails (go-plugin's container outlives a plugin the kernel killed).
    `health_urls`: compose service -> its base URL."""
    revived = []
    for service, container in containers.items():
        container.reload()
        if container.status != "running":
            log.warning("starting %s again after it stopped", container.name)
            container.start()
            revived.append(service)
        elif service in health_urls and answers_ok(f"{health_urls[service]}/healthz", 5.0):
            log.warning("restarting %s: its /healthz fails", container.name)
            container.restart()
            revived.append(service)
    for service in revived:
        if service in health_urls:
            wait_ready(f"{health_urls[service]}/healthz", [], timeout=90)


def _progress(level: LevelResult) -> None:
    peaks = ", ".join(f"{p.name} {p.peak_bytes / MiB:.0f} MiB" for p in level.processes)
    status = "held" if level.held else "BROKE: " + "; ".join(level.breaches)
    print(
        f"  {level.target}/{level.mode} x{level.concurrency}: {level.aggregate_mb_s:.0f} MB/s, "
        f"{peaks or 'no memory figures'}; {status}",
        file=sys.stderr,
        flush=True,
    )


@contextlib.contextmanager
def _measured(sampler: Sampler, services: Services) -> Iterator[None]:
    with observing(sampler, services.processes, services.stats_urls):
        yield


def _level_runner(
    sampler: Sampler,
    target: Target,
    mode: str,
    settings: RampSettings,
    containers: dict[str, Any] | None = None,
) -> LevelRunner:
    plan = StreamPlan(target, settings.stream_bytes, settings.chunk_bytes, STREAM_TIMEOUT_S)
    return LevelRunner(
        sampler, plan, mode, settings.min_level_bytes, containers, settings.stream_bytes_at
    )


def _spawned_ramp(
    sampler: Sampler,
    name: str,
    mode: str,
    settings: RampSettings,
    logs: Path,
    options: ServiceOptions,
    files: Path | None,
) -> Ramp:
    """A fresh set of processes for the ramp (or, with settings.fresh, for each level)."""
    references = {name} & set(SPAWNED_REFERENCES)

    def services() -> contextlib.AbstractContextManager[Services]:
        return spawned(
            settings.chunk_bytes,
            logs / f"{name}-{mode}",
            references,
            files_root=files,
            variant=options.variant,
        )

    def level(concurrency: int) -> LevelResult:
        with services() as fresh, _measured(sampler, fresh):
            target = fresh.targets[name]
            Engine(sampler).warm_up(target, settings.chunk_bytes)
            return _level_runner(sampler, target, mode, settings)(concurrency)

    if settings.fresh:
        return run_ramp(name, mode, settings.levels, level, settings.limits, on_level=_progress)
    with services() as running, _measured(sampler, running):
        target = running.targets[name]
        Engine(sampler).warm_up(target, settings.chunk_bytes)
        runner = _level_runner(sampler, target, mode, settings)
        return run_ramp(name, mode, settings.levels, runner, settings.limits, on_level=_progress)


def _spawned_ramps(
    sampler: Sampler,
    settings: RampSettings,
    plan: list[tuple[str, str]],
    logs: Path,
    options: ServiceOptions,
    files: Path | None,
) -> list[Ramp]:
    ramps = []
    for name, mode in plan:
        try:
            ramps.append(_spawned_ramp(sampler, name, mode, settings, logs, options, files))
        except StackError as exc:
            ramps.append(failed_ramp(name, mode, settings.levels[0], f"did not start: {exc}"))
    return ramps


def _external_ramps(
    sampler: Sampler,
    settings: RampSettings,
    plan: list[tuple[str, str]],
    options: ServiceOptions,
    files: Path | None,
    notes: list[str],
) -> tuple[list[Ramp], RampSettings]:
    """The running services' targets, one ramp after the other (a killed container
    restarted in between); the settings with each container's own cap, as the
    engine reports it."""
    assert options.target_url is not None
    ramps = []
    with external(
        options.target_url, options.stats_url, go_plugin_url=options.go_plugin_url, files_root=files
    ) as services:
        with observing(sampler, {}, services.stats_urls, compose=True) as container_sampler:
            containers = dict(container_sampler.containers) if container_sampler else None
            if container_sampler is None:
                notes.append("no container figures (no Docker socket): memory from /debug/stats")
            elif not container_sampler.wait_first_samples():
                notes.append("a container's memory could not be read within 30 s")
            if container_sampler is not None:
                caps = {
                    service: figure.limit_bytes
                    for service, figure in container_sampler.figures.items()
                    if figure.limit_bytes
                }
                limits = dataclasses.replace(settings.limits, container_caps=caps)
                settings = dataclasses.replace(settings, limits=limits)
            health_urls = {
                service: url.rstrip("/")
                for service, url in (
                    ("host", options.target_url),
                    (GO_PLUGIN, options.go_plugin_url),
                )
                if url
            }
            missing = sorted({n for n, _ in plan if n not in services.targets})
            if missing:
                notes.append(f"not served by the running services, skipped: {', '.join(missing)}")
            for name, mode in plan:
                if name not in services.targets:
                    continue
                if containers:
                    _revive(containers, health_urls)
                runner = _level_runner(sampler, services.targets[name], mode, settings, containers)
                ramps.append(
                    run_ramp(
                        name, mode, settings.levels, runner, settings.limits, on_level=_progress
                    )
                )
    return ramps, settings


def settings_of(args: argparse.Namespace) -> RampSettings:
    profile = PROFILES[args.profile]
    levels = args.levels or doubling_levels(
        int(args.max_concurrency or profile.ramp.max_concurrency)
    )
    return RampSettings(
        levels=tuple(levels),
        limits=Limits(int(args.memory_cap), float(args.ttfb_slo_ms) / 1000),
        stream_bytes=int(args.stream_bytes or profile.ramp.stream_bytes),
        min_level_bytes=int(
            profile.ramp.min_level_bytes if args.min_level_bytes is None else args.min_level_bytes
        ),
        chunk_bytes=args.chunk_bytes,
        fresh=bool(args.fresh),
        same_bytes=bool(args.same_bytes),
    )


def cmd_capacity(args: argparse.Namespace) -> int:
    try:
        settings = settings_of(args)
        targets = _listed(args.targets, RAMP_TARGETS, RAMP_TARGETS)
        modes = _listed(args.modes, MODES, DEFAULT_MODES)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        print(f"bench capacity: {exc}", file=sys.stderr)
        return 2
    problem = check_target_flags(args)
    if problem is None and args.fresh and args.target_url:
        problem = "--fresh starts processes; running services are measured as they run"
    if problem:
        print(f"bench capacity: {problem}", file=sys.stderr)
        return 2
    options = service_options(args)
    plan = ramp_plan(targets, modes)
    run_dir = new_run_dir(Path(args.results_dir))
    run = CapacityRun(
        run_id=run_dir.name,
        created_utc=utc_now(),
        profile=args.profile,
        settings=settings,
        environment=environment([settings.chunk_bytes], options.mode),
    )
    record_services(run.environment, options.stats_url)
    print(
        f"capacity ramp {list(settings.levels)} x {settings.stream_bytes / MiB:g} MiB per "
        f"stream{' (same bytes per level)' if settings.same_bytes else ''}, ramps "
        f"{[f'{t}/{m}' for t, m in plan]}, cap {settings.limits.memory_cap_bytes / MiB:.0f} "
        f"MiB, TTFB SLO {settings.limits.ttfb_slo_s * 1000:.0f} ms -> {run_dir}",
        file=sys.stderr,
        flush=True,
    )
    file_modes = {FILE, FILE_OFFLOAD} & {m for _, m in plan}
    sizes = {settings.stream_bytes_at(n) for n in settings.levels} if file_modes else set()
    given = options.files_root
    if options.target_url and given is None and sizes:
        run.notes.append("no --files-root for the running services: file modes skipped")
        plan = [(t, m) for t, m in plan if m not in file_modes]
        sizes = set()
    with files_root(sizes, given) as files, Sampler(interval_s=args.sample_interval) as sampler:
        if options.target_url:
            run.ramps, run.settings = _external_ramps(
                sampler, settings, plan, options, files, run.notes
            )
        else:
            run.ramps = _spawned_ramps(sampler, settings, plan, run_dir / "logs", options, files)
    report.write_capacity_run(run_dir, run)
    print((run_dir / "summary.md").read_text())
    print(f"results written to {run_dir}")
    # A target that never started is a broken run, not a capacity of 0.
    return 1 if any(r.reason.startswith("did not start") for r in run.ramps) else 0
