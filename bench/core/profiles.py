"""Profiles: how big and how long a run is, one table for every subcommand.

`bench run`, `bench sweep`, `bench rps` and `bench capacity` read the same
profile by name: the sizes of a run's scenarios and the ramp of a capacity run.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.core.units import GiB, KiB, MiB


@dataclass(frozen=True)
class RampSize:
    """How far and how heavy a capacity ramp goes.

    The body per transfer stays fixed (not the total per level): a transfer must
    carry more than the bridge buffers per stream (~5-7 MiB at defaults), or the
    memory a level needs would be hidden by streams ending before their buffers
    fill, and the buffered reference must hold the same body at every level. Low
    levels, whose few streams would be over in milliseconds, repeat transfers on
    each stream until they move `min_level_bytes`, so their figures are not noise.
    """

    max_concurrency: int
    stream_bytes: int
    min_level_bytes: int


@dataclass(frozen=True)
class Profile:
    name: str
    sizes: tuple[int, ...]  # large download/upload sizes through the bridge, ascending
    reference_sizes: tuple[int, ...]  # sizes run against the references
    buffered_max_size: int  # the buffered host holds whole bodies: keep it small
    file_sizes: tuple[int, ...]  # files served from the files root, ascending
    echo_size: int
    concurrency: int
    concurrent_size: int  # per stream
    small_requests: int
    sse_runs: int
    slow_reader_size: int  # what the client asks for; it reads only a part, slowly
    slow_reader_seconds: float
    slow_reader_bytes_per_s: int
    aborts: int
    # The leak soak (docs/bench.md, "Leak verdicts"): warm-up rounds, then measured
    # rounds, each of soak_round_requests mixed requests (a multiple of the mix's 12).
    soak_round_requests: int
    soak_warmup_rounds: int
    soak_rounds: int
    sweep_size: int
    locust_seconds: int
    ramp: RampSize
    # Chunk settings run by `bench run` (one host/plugin pair each): 64 KiB is
    # upstream Mattermost's chunk size, 1 MiB this bridge's default (see
    # docs/decisions.md for why). --chunk-sizes overrides.
    chunk_sizes: tuple[int, ...] = (64 * KiB, 1 * MiB)
    repeats: int = 1  # runs per throughput scenario (best kept, all recorded)
    # Small-request throughput (`rps`): 1 KiB GETs from this many keep-alive
    # connections for this long, after an unmeasured warm-up, per target.
    rps_connections: int = 32
    rps_seconds: float = 1.0
    rps_warmup_s: float = 0.3


PROFILES: dict[str, Profile] = {
    # Seconds: for the end-to-end test of the bench itself.
    "smoke": Profile(
        name="smoke",
        sizes=(1 * MiB, 8 * MiB),
        reference_sizes=(8 * MiB,),
        buffered_max_size=8 * MiB,
        # A runtime that kept every chunk of a 32 MiB file would grow past the
        # bounded-memory verdict's 16 MiB floor: the smoke run can show it.
        file_sizes=(1 * MiB, 32 * MiB),
        echo_size=2 * MiB,
        concurrency=2,
        concurrent_size=1 * MiB,
        small_requests=50,
        sse_runs=2,
        slow_reader_size=64 * MiB,
        slow_reader_seconds=1.0,
        slow_reader_bytes_per_s=4 * MiB,
        aborts=3,
        # The host's Go heap still fills caches for ~700 requests: warm up past that.
        soak_round_requests=240,
        soak_warmup_rounds=3,
        soak_rounds=3,
        sweep_size=8 * MiB,
        locust_seconds=5,
        ramp=RampSize(max_concurrency=4, stream_bytes=1 * MiB, min_level_bytes=0),
        chunk_sizes=(1 * MiB,),
        rps_connections=8,
        rps_seconds=0.5,
        rps_warmup_s=0.1,
    ),
    # A minute or two on 2 cores: the default and the committed baseline.
    "quick": Profile(
        name="quick",
        sizes=(16 * MiB, 256 * MiB),
        reference_sizes=(16 * MiB, 256 * MiB),
        buffered_max_size=256 * MiB,
        file_sizes=(16 * MiB, 256 * MiB),
        echo_size=64 * MiB,
        concurrency=8,
        concurrent_size=16 * MiB,
        small_requests=500,
        sse_runs=10,
        slow_reader_size=512 * MiB,
        slow_reader_seconds=3.0,
        slow_reader_bytes_per_s=4 * MiB,
        aborts=10,
        soak_round_requests=600,
        soak_warmup_rounds=2,
        soak_rounds=5,
        sweep_size=256 * MiB,
        locust_seconds=15,
        ramp=RampSize(max_concurrency=128, stream_bytes=8 * MiB, min_level_bytes=128 * MiB),
    ),
    # Opt-in: 1 GiB transfers, longer soak.
    "full": Profile(
        name="full",
        sizes=(16 * MiB, 256 * MiB, 1 * GiB),
        reference_sizes=(16 * MiB, 256 * MiB, 1 * GiB),
        buffered_max_size=256 * MiB,
        file_sizes=(16 * MiB, 256 * MiB, 1 * GiB),
        echo_size=256 * MiB,
        concurrency=16,
        concurrent_size=64 * MiB,
        small_requests=2000,
        sse_runs=20,
        slow_reader_size=1 * GiB,
        slow_reader_seconds=5.0,
        slow_reader_bytes_per_s=4 * MiB,
        aborts=20,
        soak_round_requests=1200,
        soak_warmup_rounds=2,
        soak_rounds=8,
        sweep_size=1 * GiB,
        locust_seconds=60,
        ramp=RampSize(max_concurrency=512, stream_bytes=16 * MiB, min_level_bytes=512 * MiB),
        repeats=2,
        rps_seconds=10.0,
        rps_warmup_s=1.0,
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


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
    """ "1,2,4" or a profile's name ("quick": 1, 2, 4, ... 128); ValueError otherwise.

    Used for `bench capacity --levels` and the Locust shape's BENCH_RAMP_LEVELS."""
    text = text.strip()
    if text in PROFILES:
        return doubling_levels(PROFILES[text].ramp.max_concurrency)
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        levels = []
    if not levels or levels[0] < 1 or levels != sorted(set(levels)):
        raise ValueError(
            f"levels must be ascending positive stream counts like 1,2,4 or one of "
            f"{', '.join(PROFILES)}, not {text!r}"
        )
    return levels


def step_users(levels: list[int] | tuple[int, ...], step_s: float, run_time_s: float) -> int | None:
    """The level a time-stepped ramp is at after run_time_s (None: past the last step)."""
    step = int(run_time_s // step_s)
    return levels[step] if step < len(levels) else None
