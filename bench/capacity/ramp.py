"""The ramp itself, as pure functions: which levels, what a level's streams add
up to, which limits a level broke, and where a ramp stops.

Nothing here does I/O, so every rule is tested on synthetic levels.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bench.capacity.model import (
    DOWNLOAD,
    UPLOAD,
    LevelResult,
    Limits,
    ProcessPeak,
    Ramp,
    StreamOutcome,
)
from bench.report.rows import CPU_FIGURE_MIN_BYTES
from bench.scenarios.base import MB, percentile

MiB = 1024 * 1024
DEFAULT_MEMORY_CAP = 128 * MiB  # the compose caps of plugin and host
# p99 time to the status line of a download. Generous on purpose: 2 shared cores
# serving hundreds of streams answer late without being broken; a server that
# queues requests (admission control) or stalls crosses it.
DEFAULT_TTFB_SLO_S = 2.0
MAX_ERROR_DETAILS = 5


@dataclass(frozen=True)
class RampProfile:
    """How far and how heavy a profile's ramp goes."""

    max_concurrency: int
    stream_bytes: int  # per transfer: large enough that streams overlap and fill their windows
    min_level_bytes: int  # low levels repeat transfers until they move at least this


# The body per transfer stays fixed (not the total per level): a transfer must carry
# more than the bridge buffers per stream (~5-7 MiB at defaults), or the memory a
# level needs would be hidden by streams ending before their buffers fill, and the
# buffered reference must hold the same body at every level. Low levels, whose few
# streams would be over in milliseconds, repeat transfers on each stream instead, so
# their MB/s and CPU figures are not noise.
RAMP_PROFILES: dict[str, RampProfile] = {
    "smoke": RampProfile(max_concurrency=4, stream_bytes=1 * MiB, min_level_bytes=0),
    "quick": RampProfile(max_concurrency=128, stream_bytes=8 * MiB, min_level_bytes=128 * MiB),
    "full": RampProfile(max_concurrency=512, stream_bytes=16 * MiB, min_level_bytes=512 * MiB),
}


def transfers_per_stream(concurrency: int, stream_bytes: int, min_level_bytes: int) -> int:
    """Transfers each stream makes so that the level moves at least min_level_bytes."""
    return max(1, -(-min_level_bytes // (concurrency * stream_bytes)))


def doubling_levels(max_concurrency: int) -> list[int]:
    """1, 2, 4, ... up to max_concurrency (included even when not a power of two)."""
    if max_concurrency < 1:
        raise ValueError(f"the ramp needs at least one stream, not {max_concurrency}")
    levels = [1]
    while levels[-1] * 2 <= max_concurrency:
        levels.append(levels[-1] * 2)
    if levels[-1] != max_concurrency:
        levels.append(max_concurrency)
    return levels


def parse_levels(text: str) -> list[int]:
    """ "1,2,4" or a ramp profile's name ("quick": 1, 2, 4, ... 128); ValueError otherwise.

    Used for --levels / BENCH_CAPACITY_LEVELS and the Locust shape's BENCH_RAMP_LEVELS."""
    text = text.strip()
    if text in RAMP_PROFILES:
        return doubling_levels(RAMP_PROFILES[text].max_concurrency)
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        levels = []
    if not levels or levels[0] < 1 or levels != sorted(set(levels)):
        raise ValueError(
            f"levels must be ascending positive stream counts like 1,2,4 or one of "
            f"{', '.join(RAMP_PROFILES)}, not {text!r}"
        )
    return levels


def step_users(levels: Sequence[int], step_s: float, run_time_s: float) -> int | None:
    """The level a time-stepped ramp is at after run_time_s (None: past the last step)."""
    step = int(run_time_s // step_s)
    return levels[step] if step < len(levels) else None


def directions(mode: str, concurrency: int) -> list[str]:
    """The direction of each stream of a level: all one way, or half each (mixed)."""
    if mode in (DOWNLOAD, UPLOAD):
        return [mode] * concurrency
    downloads = (concurrency + 1) // 2  # a mixed level of 1 is one download
    return [DOWNLOAD] * downloads + [UPLOAD] * (concurrency - downloads)


def jain_index(rates: Sequence[float]) -> float | None:
    """Jain's fairness index (sum x)^2 / (n * sum x^2): 1 when every stream got the
    same rate, 1/n when one stream got everything. None without rates."""
    if not rates:
        return None
    squares = sum(r * r for r in rates)
    if squares == 0:
        return None
    return sum(rates) ** 2 / (len(rates) * squares)


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


def cpu_per_gib(peaks: Iterable[ProcessPeak], bytes_moved: int) -> list[ProcessPeak]:
    """Each process's CPU seconds per GiB the level moved; None below CPU_FIGURE_MIN_BYTES,
    where the kernel's 10 ms CPU accounting tick is a large part of the figure."""
    gib = bytes_moved / (1024 * MiB) if bytes_moved >= CPU_FIGURE_MIN_BYTES else 0.0
    return [
        ProcessPeak(
            p.name,
            p.source,
            p.peak_bytes,
            p.cpu_seconds,
            p.cpu_seconds / gib if p.cpu_seconds is not None and gib > 0 else None,
        )
        for p in peaks
    ]


def breaches(level: LevelResult, limits: Limits) -> list[str]:
    """The limits a level broke, each as a sentence; empty when it held."""
    out = []
    for p in level.processes:
        if p.peak_bytes > limits.memory_cap_bytes:
            out.append(
                f"memory: {p.name} peaked at {p.peak_bytes / MiB:.1f} MiB "
                f"> cap {limits.memory_cap_bytes / MiB:.0f} MiB"
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
