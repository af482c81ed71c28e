"""Profiles: how big and how long a run is. Scenarios are built from a profile."""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class Profile:
    name: str
    sizes: tuple[int, ...]  # large download/upload sizes through the bridge, ascending
    reference_sizes: tuple[int, ...]  # sizes run against go-direct / python-direct
    buffered_max_size: int  # the buffered host holds whole bodies: keep it small
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
    # Chunk settings run by `bench run` (one host/plugin pair each): 64 KiB is
    # upstream Mattermost's chunk size, 1 MiB this bridge's default (see
    # docs/performance.md for why). --chunk-sizes overrides.
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
    ),
    # Opt-in: 1 GiB transfers, longer soak.
    "full": Profile(
        name="full",
        sizes=(16 * MiB, 256 * MiB, 1 * GiB),
        reference_sizes=(16 * MiB, 256 * MiB, 1 * GiB),
        buffered_max_size=256 * MiB,
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


def human_size(n: int) -> str:
    """1048576 -> '1MiB', 65536 -> '64KiB' (used in scenario ids)."""
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n}B"
