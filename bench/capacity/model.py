"""The capacity run's results as typed records, and their summary.json form.

One `StreamOutcome` per transfer, one `LevelResult` per concurrency level, one
`Ramp` per (target, mode), one `CapacityRun` per command. `to_json` / `from_json`
are the only places that know the JSON shape, so the gate reads a baseline back
into the same types the runner produced.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

CAPACITY_KIND = "capacity"  # summary.json "kind": tells a capacity run from a `bench run`
DOWNLOAD = "download"
UPLOAD = "upload"
MIXED = "mixed"  # half the streams download, half upload
MODES = (DOWNLOAD, UPLOAD, MIXED)


@dataclass(frozen=True)
class StreamOutcome:
    """One stream of a level (one or more transfers back to back on one connection):
    what moved, how fast, and how it failed if it did."""

    direction: str  # DOWNLOAD or UPLOAD
    bytes: int  # body bytes of the transfers that completed (verified)
    seconds: float  # summed over its transfers: request start -> last byte / the answer
    ttfbs_s: tuple[float, ...] = ()  # request start -> status line, per download (an
    # upload's answer comes after its whole body, so its "first byte" is the transfer)
    error: str | None = None  # kind: "503" (any status), "truncated", "corrupt", "timeout", ...
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Limits:
    """What a level must stay within to count as held."""

    memory_cap_bytes: int  # peak RSS (or container working set) of each serving process
    ttfb_slo_s: float  # p99 time to first byte of the level's downloads


@dataclass(frozen=True)
class ProcessPeak:
    """One serving process (or container) during a level."""

    name: str  # "host", "plugin", "python-direct", "buffered-host", "container:plugin", ...
    source: str  # "psutil", "stats" (/debug/stats) or "container" (Docker SDK)
    peak_bytes: float
    cpu_seconds: float | None = None  # psutil only
    cpu_s_per_gib: float | None = None


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
    levels: list[int]
    limits: Limits
    environment: dict[str, Any]  # versions, CPUs, commit: bench.report.environment.environment()
    ramps: list[Ramp] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def to_json(run: CapacityRun, schema_version: int) -> dict[str, Any]:
    data = dataclasses.asdict(run)
    data = {"schema_version": schema_version, "kind": CAPACITY_KIND, **data}
    for ramp_data, ramp in zip(data["ramps"], run.ramps, strict=True):
        ramp_data["key"] = ramp.key
        for level_data, level in zip(ramp_data["levels"], ramp.levels, strict=True):
            level_data["held"] = level.held
    return data


def _fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def level_from_json(data: dict[str, Any]) -> LevelResult:
    fields = _fields(LevelResult, data)
    fields["processes"] = [ProcessPeak(**_fields(ProcessPeak, p)) for p in data["processes"]]
    return LevelResult(**fields)


def from_json(data: dict[str, Any]) -> CapacityRun:
    """summary.json of a capacity run back into records; KeyError/TypeError when malformed."""
    ramps = []
    for r in data["ramps"]:
        ramp = Ramp(**_fields(Ramp, {**r, "levels": []}))
        ramp.levels = [level_from_json(level) for level in r["levels"]]
        ramps.append(ramp)
    fields = _fields(CapacityRun, data)
    fields["limits"] = Limits(**_fields(Limits, data["limits"]))
    fields["ramps"] = ramps
    return CapacityRun(**fields)
