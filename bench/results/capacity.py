"""summary.json of `bench capacity`, as typed records.

One `LevelResult` per concurrency level, one `Ramp` per (target, mode), one
`CapacityRun` per command. `to_json` / `from_json` are the only places that know
the JSON shape, so the gate reads a baseline back into the same types the ramp
produced.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bench.results.environment import Environment
from bench.results.format import (
    CAPACITY_KIND,
    SCHEMA_VERSION,
    known_fields,
    listing,
    mapping,
    record,
)

DOWNLOAD = "download"
UPLOAD = "upload"
MIXED = "mixed"  # half the streams download, half upload
FILE = "file"  # files streamed through the plugin
FILE_OFFLOAD = "file-offload"  # files named by the plugin, served by the host
MODES = (DOWNLOAD, UPLOAD, MIXED, FILE, FILE_OFFLOAD)
DEFAULT_MODES = (DOWNLOAD, UPLOAD, MIXED)


@dataclass(frozen=True)
class Limits:
    """What a level must stay within to count as held."""

    memory_cap_bytes: int  # peak RSS (or container working set) of each serving process
    ttfb_slo_s: float  # p99 time to first byte of the level's downloads
    # A container's own cap where the engine reported it (compose: a service's
    # mem_limit; one container may hold two processes, as go-plugin's does).
    container_caps: dict[str, int] = field(default_factory=dict)

    def cap_of(self, figure_name: str) -> int:
        """The cap of one figure of a level (`host`, `container:plugin`, ...)."""
        service = figure_name.removeprefix("container:")
        if service != figure_name and service in self.container_caps:
            return self.container_caps[service]
        return self.memory_cap_bytes


@dataclass(frozen=True)
class RampSettings:
    """What every ramp of one command shares: two runs are comparable only when these,
    the profile and the mode are the same."""

    levels: tuple[int, ...]
    limits: Limits
    stream_bytes: int  # body bytes per transfer (before --same-bytes scaling)
    min_level_bytes: int  # low levels repeat transfers until they move this much
    chunk_bytes: int  # the demo's write size, upload piece size and bridge chunk
    fresh: bool = False  # a fresh set of processes for every level
    same_bytes: bool = False  # every level moves as much as the highest

    def stream_bytes_at(self, concurrency: int) -> int:
        """Bytes per transfer at a level: fixed, or scaled so every level moves as much."""
        if not self.same_bytes:
            return self.stream_bytes
        return self.stream_bytes * max(self.levels) // concurrency

    def differences(self, other: RampSettings) -> list[str]:
        """What differs between two runs' settings, one phrase each."""
        out = []
        for name in (
            "levels",
            "stream_bytes",
            "min_level_bytes",
            "chunk_bytes",
            "fresh",
            "same_bytes",
        ):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name} {mine} vs {theirs}")
        if self.limits.memory_cap_bytes != other.limits.memory_cap_bytes:
            out.append(
                f"memory cap {self.limits.memory_cap_bytes} vs {other.limits.memory_cap_bytes}"
            )
        if self.limits.ttfb_slo_s != other.limits.ttfb_slo_s:
            out.append(f"TTFB SLO {self.limits.ttfb_slo_s} s vs {other.limits.ttfb_slo_s} s")
        if self.limits.container_caps != other.limits.container_caps:
            out.append(
                f"container caps {self.limits.container_caps} vs {other.limits.container_caps}"
            )
        return out


@dataclass(frozen=True)
class ProcessPeak:
    """One serving process (or container) during a level."""

    name: str  # "host", "plugin", "python-direct", "buffered-host", "container:plugin", ...
    source: str  # "psutil", "stats" (/debug/stats) or "container" (Docker SDK)
    peak_bytes: float
    cpu_seconds: float | None = None
    cpu_s_per_gib: float | None = None
    growth_bytes: float | None = None  # peak minus the reading at the level's start
    pid: int | None = None  # the process measured (spawned): tells fresh processes apart


@dataclass
class LevelResult:
    """Every figure of one concurrency level of one ramp."""

    target: str
    mode: str
    concurrency: int
    stream_bytes: int  # body bytes per transfer
    transfers_per_stream: int  # back to back on each stream's connection
    seconds: float  # first request start -> last stream end
    streams_ok: int
    bytes_moved: int  # by the streams that succeeded
    aggregate_mb_s: float  # bytes_moved / seconds, MB = 10^6 B
    stream_mb_s_min: float | None
    stream_mb_s_median: float | None
    jain_index: float | None  # fairness of per-stream MB/s: 1 = equal, 1/n = one stream got all
    ttfb_p50_ms: float | None
    ttfb_p99_ms: float | None
    errors: dict[str, int] = field(default_factory=dict)  # kind -> streams
    error_details: list[str] = field(default_factory=list)  # a few, for the reader
    processes: list[ProcessPeak] = field(default_factory=list)
    oom_killed: list[str] = field(default_factory=list)  # containers the kernel killed
    exited: list[str] = field(default_factory=list)  # serving processes gone after the level
    client_cpu_cores: float | None = None  # the load generator's CPU seconds per second
    breaches: list[str] = field(default_factory=list)  # limits broken; empty = the level held

    @property
    def held(self) -> bool:
        return not self.breaches

    def peak(self, name: str) -> float | None:
        return next((p.peak_bytes for p in self.processes if p.name == name), None)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LevelResult:
        fields = known_fields(cls, data)
        fields["processes"] = [record(ProcessPeak, p) for p in listing(data.get("processes"))]
        return cls(**fields)


@dataclass
class Ramp:
    """One target in one mode, level after level until a limit broke."""

    target: str
    mode: str
    levels: list[LevelResult] = field(default_factory=list)
    capacity: int = 0  # the highest level that held (0: not even one stream)
    stopped_at: int | None = None  # the level that broke a limit; None: every level held
    reason: str = ""  # why stopped_at did not hold (or that every level held)

    @property
    def key(self) -> str:
        return f"{self.target}/{self.mode}"


@dataclass
class CapacityRun:
    """The whole command: what summary.json holds."""

    run_id: str
    created_utc: str
    profile: str
    settings: RampSettings
    environment: Environment = field(default_factory=Environment)
    ramps: list[Ramp] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION  # of the file it was read from
    path: str = ""  # where it was read from (not written)

    @property
    def levels(self) -> list[int]:
        return list(self.settings.levels)

    @property
    def limits(self) -> Limits:
        return self.settings.limits

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("path")
        data = {"schema_version": SCHEMA_VERSION, "kind": CAPACITY_KIND, **data}
        # Flat copies for readers of the levels and limits alone (history, older tools).
        data["levels"] = list(self.settings.levels)
        data["limits"] = dataclasses.asdict(self.settings.limits)
        for ramp_data, ramp in zip(data["ramps"], self.ramps, strict=True):
            ramp_data["key"] = ramp.key
            for level_data, level in zip(ramp_data["levels"], ramp.levels, strict=True):
                level_data["held"] = level.held
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], path: str = "") -> CapacityRun:
        """A capacity summary (version 1 kept levels and limits at the top and the stream
        sizes in the environment); KeyError/TypeError when malformed."""
        env = mapping(data.get("environment"))
        given = mapping(data.get("settings"))
        limits = Limits(**known_fields(Limits, given.get("limits") or data["limits"]))
        settings = RampSettings(
            levels=tuple(given.get("levels") or data["levels"]),
            limits=limits,
            stream_bytes=int(given.get("stream_bytes", env.get("stream_bytes", 0))),
            min_level_bytes=int(given.get("min_level_bytes", env.get("min_level_bytes", 0))),
            chunk_bytes=int(given.get("chunk_bytes", (env.get("chunk_sizes") or [0])[0])),
            fresh=bool(given.get("fresh", False)),
            same_bytes=bool(given.get("same_bytes", False)),
        )
        ramps = []
        for r in data["ramps"]:
            ramp = Ramp(**known_fields(Ramp, {**r, "levels": []}))
            ramp.levels = [LevelResult.from_json(level) for level in r["levels"]]
            ramps.append(ramp)
        return cls(
            run_id=str(data["run_id"]),
            created_utc=str(data.get("created_utc", "")),
            profile=str(data.get("profile", "?")),
            settings=settings,
            environment=Environment.from_json(env),
            ramps=ramps,
            notes=[str(n) for n in listing(data.get("notes"))],
            files=[str(f) for f in listing(data.get("files"))],
            schema_version=int(data.get("schema_version") or SCHEMA_VERSION),
            path=path,
        )
