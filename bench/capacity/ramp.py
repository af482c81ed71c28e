"""The ramp itself, as pure functions: what a level's streams add up to, which
limits a level broke, and where a ramp stops. (Which levels: bench/core/profiles.py.)

Nothing here does I/O, so every rule is tested on synthetic levels.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from bench.core.numbers import jain_index, percentile
from bench.core.units import MB, MiB
from bench.load.streams import StreamOutcome
from bench.observe.windows import ProcessFigure
from bench.results.capacity import (
    DOWNLOAD,
    FILE,
    FILE_OFFLOAD,
    MIXED,
    UPLOAD,
    LevelResult,
    Limits,
    ProcessPeak,
    Ramp,
)

DEFAULT_MEMORY_CAP = 128 * MiB  # the compose caps of plugin and host
# p99 time to the status line of a download. Generous on purpose: 2 shared cores
# serving hundreds of streams answer late without being broken; a server that
# queues requests (admission control) or stalls crosses it.
DEFAULT_TTFB_SLO_S = 2.0
MAX_ERROR_DETAILS = 5


def transfers_per_stream(concurrency: int, stream_bytes: int, min_level_bytes: int) -> int:
    """Transfers each stream makes so that the level moves at least min_level_bytes."""
    return max(1, -(-min_level_bytes // (concurrency * stream_bytes)))


def directions(mode: str, concurrency: int) -> list[str]:
    """The direction of each stream of a level: all one way, or half each (mixed)."""
    if mode in (DOWNLOAD, UPLOAD, FILE, FILE_OFFLOAD):
        return [mode] * concurrency
    if mode != MIXED:
        raise ValueError(f"unknown mode {mode!r}")
    downloads = (concurrency + 1) // 2  # a mixed level of 1 is one download
    return [DOWNLOAD] * downloads + [UPLOAD] * (concurrency - downloads)


def summarize_level(
    target: str,
    mode: str,
    concurrency: int,
    stream_bytes: int,
    transfers: int,
    seconds: float,
    streams: Sequence[StreamOutcome],
) -> LevelResult:
    """The traffic figures of a level from its streams (memory is added by the runner)."""
    ok = [s for s in streams if s.ok]
    rates = [s.bytes / s.seconds / MB for s in ok if s.seconds > 0]
    ttfbs = sorted(t for s in ok for t in s.ttfbs_s)
    moved = sum(s.bytes for s in ok)
    errors = Counter(s.error for s in streams if s.error is not None)
    return LevelResult(
        target=target,
        mode=mode,
        concurrency=concurrency,
        stream_bytes=stream_bytes,
        transfers_per_stream=transfers,
        seconds=seconds,
        streams_ok=len(ok),
        bytes_moved=moved,
        aggregate_mb_s=moved / seconds / MB if seconds > 0 else 0.0,
        stream_mb_s_min=min(rates) if rates else None,
        stream_mb_s_median=statistics.median(rates) if rates else None,
        jain_index=jain_index(rates),
        ttfb_p50_ms=percentile(ttfbs, 50) * 1000 if ttfbs else None,
        ttfb_p99_ms=percentile(ttfbs, 99) * 1000 if ttfbs else None,
        errors=dict(sorted(errors.items())),
        error_details=[f"{s.direction}: {s.error}: {s.detail}" for s in streams if not s.ok][
            :MAX_ERROR_DETAILS
        ],
    )


def process_peaks(
    figures: Iterable[ProcessFigure], bytes_moved: int, pids: Mapping[str, int] | None = None
) -> list[ProcessPeak]:
    """A level's window figures as its records: peak, growth, CPU and CPU per GiB moved
    (None below 64 MiB, where the runtimes' background work weighs as much)."""
    pids = pids or {}
    return [
        ProcessPeak(
            f.name,
            f.source,
            f.peak_bytes,
            f.cpu_seconds,
            f.cpu_per_gib(bytes_moved),
            f.growth_bytes,
            pids.get(f.name),
        )
        for f in figures
    ]


def breaches(level: LevelResult, limits: Limits) -> list[str]:
    """The limits a level broke, each as a sentence; empty when it held."""
    out = []
    for p in level.processes:
        cap = limits.cap_of(p.name)
        if p.peak_bytes > cap:
            out.append(
                f"memory: {p.name} peaked at {p.peak_bytes / MiB:.1f} MiB > cap {cap / MiB:.0f} MiB"
            )
    out += [f"oom-kill: {name}" for name in level.oom_killed]
    out += [f"exited: {name}" for name in level.exited]
    failed = level.concurrency - level.streams_ok
    if failed > 0:
        kinds = ", ".join(f"{kind} x{n}" for kind, n in level.errors.items()) or "unknown"
        out.append(f"errors: {failed} of {level.concurrency} streams failed ({kinds})")
    slo_ms = limits.ttfb_slo_s * 1000
    if level.ttfb_p99_ms is not None and level.ttfb_p99_ms > slo_ms:
        out.append(f"ttfb: p99 {level.ttfb_p99_ms:.0f} ms > SLO {slo_ms:.0f} ms")
    return out


def run_ramp(
    target: str,
    mode: str,
    levels: Sequence[int],
    run_level: Callable[[int], LevelResult],
    limits: Limits,
    on_level: Callable[[LevelResult], None] | None = None,
) -> Ramp:
    """Run levels in order until one breaks a limit; capacity = the last that held.

    on_level sees each judged level as it finishes (progress output)."""
    ramp = Ramp(target=target, mode=mode)
    for concurrency in levels:
        level = run_level(concurrency)
        level.breaches = breaches(level, limits)
        ramp.levels.append(level)
        if on_level is not None:
            on_level(level)
        if not level.held:
            ramp.stopped_at = concurrency
            ramp.reason = "; ".join(level.breaches)
            return ramp
        ramp.capacity = concurrency
    ramp.reason = f"held every level up to {ramp.capacity} (the profile's maximum)"
    return ramp


def failed_ramp(target: str, mode: str, first_level: int, why: str) -> Ramp:
    """A ramp whose target could not even be started or reached."""
    return Ramp(target=target, mode=mode, capacity=0, stopped_at=first_level, reason=why)
