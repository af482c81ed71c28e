"""Scenarios as data: what to run, against which target, how big. The engine runs them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.runner.profiles import Profile, human_size

# Targets (reference implementations side by side with the bridge).
BRIDGE = "bridge"  # client -> host -> gRPC stream -> plugin
GO_DIRECT = "go-direct"  # the host serving /direct/download and /direct/upload itself
PYTHON_DIRECT = "python-direct"  # uvicorn serving the demo handler via asgi_app
BUFFERED = "buffered"  # a second host with --buffered against the same plugin
TARGETS = (BRIDGE, GO_DIRECT, PYTHON_DIRECT, BUFFERED)

KINDS = (
    "download",
    "upload",
    "echo",
    "concurrent",
    "small",
    "rps",
    "sse",
    "slow-reader",
    "abort",
    "soak",
)
DIRECTIONS = {"download": "down", "upload": "up", "echo": "both", "concurrent": "down"}


@dataclass(frozen=True)
class Scenario:
    kind: str
    target: str
    chunk: int
    size: int = 0  # body bytes per request
    concurrency: int = 1
    requests: int = 1
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def direction(self) -> str:
        return DIRECTIONS.get(self.kind, "-")

    @property
    def id(self) -> str:
        """Stable key across runs (compare matches scenarios by it)."""
        parts = [self.kind, self.target]
        if self.size:
            parts.append(human_size(self.size))
        if self.concurrency > 1:
            parts.append(f"x{self.concurrency}")
        parts.append(f"c{human_size(self.chunk)}")
        return "/".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = self.id
        data["direction"] = self.direction
        return data


def build_scenarios(
    profile: Profile,
    chunk: int,
    targets: Iterable[str],
    kinds: Iterable[str] | None = None,
) -> list[Scenario]:
    """Scenarios of one profile for one chunk setting, limited to available targets/kinds."""
    available = set(targets)
    wanted = set(kinds) if kinds is not None else set(KINDS)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown scenarios {sorted(unknown)}; known: {', '.join(KINDS)}")
    out: list[Scenario] = []

    def add(kind: str, target: str, **kwargs: Any) -> None:
        if kind in wanted and target in available:
            out.append(Scenario(kind=kind, target=target, chunk=chunk, **kwargs))

    for kind in ("download", "upload"):
        for size in profile.sizes:
            add(kind, BRIDGE, size=size, options={"repeats": profile.repeats})
        for size in profile.reference_sizes:
            for target in (GO_DIRECT, PYTHON_DIRECT):
                add(kind, target, size=size, options={"repeats": profile.repeats})
            if size <= profile.buffered_max_size:
                add(kind, BUFFERED, size=size)
    add("echo", BRIDGE, size=profile.echo_size)
    add(
        "concurrent",
        BRIDGE,
        size=profile.concurrent_size,
        concurrency=profile.concurrency,
        requests=profile.concurrency,
    )
    for target in TARGETS:
        add("small", target, size=1024, requests=profile.small_requests)
    for target in TARGETS:
        add(
            "rps",
            target,
            size=1024,
            concurrency=profile.rps_connections,
            options={"seconds": profile.rps_seconds, "warmup_s": profile.rps_warmup_s},
        )
    add("sse", BRIDGE, requests=profile.sse_runs, options={"events": 3, "interval_ms": 20})
    add(
        "slow-reader",
        BRIDGE,
        size=profile.slow_reader_size,
        options={
            "seconds": profile.slow_reader_seconds,
            "bytes_per_s": profile.slow_reader_bytes_per_s,
        },
    )
    add("abort", BRIDGE, size=profile.slow_reader_size, requests=profile.aborts)
    add(
        "soak",
        BRIDGE,
        requests=profile.soak_round_requests * (profile.soak_warmup_rounds + profile.soak_rounds),
        concurrency=4,
        options={
            "round_requests": profile.soak_round_requests,
            "warmup_rounds": profile.soak_warmup_rounds,
            "rounds": profile.soak_rounds,
        },
    )
    return out
