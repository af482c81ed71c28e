"""summary.json of `bench run` and `bench sweep`, as typed records.

`RunSummary.to_json` writes the file and `RunSummary.from_json` reads it back:
the only two places that know its keys. Field order is the JSON key order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bench.results.containers import ContainerFigures
from bench.results.environment import Environment
from bench.results.format import (
    RUN_KIND,
    SCHEMA_VERSION,
    SummaryError,
    known_fields,
    listing,
    mapping,
    number_map,
    record,
)
from bench.results.verdict import Verdict

# Streamed downloads (pattern and file) are what the gRPC floor measures.
FLOOR_KINDS = ("download", "file")
# CPU per GiB of a transfer that moved less is a real reading but a noisy one: a few
# milliseconds of the runtimes' own background work (GC, the sampler's stats polls)
# weigh as much as the transfer. The reports mark such figures.
CPU_STEADY_BYTES = 64 * 1024 * 1024


@dataclass
class LatencyMs:
    p50: float
    p99: float
    mean: float = 0.0
    count: int = 0


@dataclass
class ScenarioRow:
    """One entry of `scenarios`: what one scenario measured against one target."""

    id: str
    kind: str = ""
    target: str = ""
    direction: str = "-"
    size_bytes: int = 0
    chunk_bytes: int = 0
    concurrency: int = 1
    requests: int = 1
    ok: bool = True
    error: str | None = None
    seconds: float = 0.0
    bytes: int = 0
    throughput_mb_s: float | None = None
    latency_ms: LatencyMs | None = None
    rss_growth_bytes: dict[str, float] = field(default_factory=dict)  # per process
    peak_rss_bytes: dict[str, float] = field(default_factory=dict)
    memory_source: dict[str, str] = field(default_factory=dict)  # psutil, stats, container
    samples: dict[str, int] = field(default_factory=dict)
    container_peak_bytes: dict[str, float] = field(default_factory=dict)  # per service
    window_s: list[float | None] | None = None
    # Per serving process (and the load generator, `loadgen`), every transfer.
    cpu_seconds_per_gib: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # the kind's own figures

    @property
    def cpu_noisy(self) -> bool:
        """Its CPU per GiB comes from fewer bytes than CPU_STEADY_BYTES."""
        return bool(self.cpu_seconds_per_gib) and self.bytes < CPU_STEADY_BYTES

    @property
    def requests_per_s(self) -> float | None:
        value = self.extra.get("requests_per_s")
        return float(value) if isinstance(value, int | float) and value else None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> ScenarioRow:
        row = record(cls, {"id": "", **mapping(data)})
        latency = mapping(row.latency_ms)
        row.latency_ms = (
            LatencyMs(**known_fields(LatencyMs, latency))
            if {"p50", "p99"} <= set(latency)
            else None
        )
        row.rss_growth_bytes = number_map(row.rss_growth_bytes)
        row.peak_rss_bytes = number_map(row.peak_rss_bytes)
        row.container_peak_bytes = number_map(row.container_peak_bytes)
        row.cpu_seconds_per_gib = number_map(row.cpu_seconds_per_gib)
        row.memory_source = {str(k): str(v) for k, v in mapping(row.memory_source).items()}
        row.samples = {str(k): int(v) for k, v in number_map(row.samples).items()}
        row.extra = mapping(row.extra)
        return row


@dataclass
class ReferenceRow:
    """One transfer (kind, size, chunk) over every target that ran it, with the bridge's
    ratio to each: throughput (higher is better) and metrics (lower is better)."""

    kind: str
    size_bytes: int
    chunk_bytes: int
    unit: str = "MB/s"
    values: dict[str, float] = field(default_factory=dict)  # per target
    bridge_ratio_to: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> target -> v
    metric_ratios: dict[str, dict[str, float]] = field(default_factory=dict)
    # target -> process -> CPU seconds per GiB
    cpu_s_per_gib: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> ReferenceRow:
        ref = record(cls, {"kind": "", "size_bytes": 0, "chunk_bytes": 0, **mapping(data)})
        ref.values = number_map(ref.values)
        ref.bridge_ratio_to = number_map(ref.bridge_ratio_to)
        ref.metrics = {k: number_map(v) for k, v in mapping(ref.metrics).items()}
        ref.metric_ratios = {k: number_map(v) for k, v in mapping(ref.metric_ratios).items()}
        ref.cpu_s_per_gib = {k: number_map(v) for k, v in mapping(ref.cpu_s_per_gib).items()}
        return ref


@dataclass
class Distance:
    """CPU seconds per GiB of one side of the bridge beside what bounds it: the floor
    (the gRPC pair alone, plus the client write for the host) and the two hops (Go
    serving the bytes itself for the host, uvicorn serving the app for the plugin)."""

    bridge: float | None = None
    floor: float | None = None
    two_hops: float | None = None

    @property
    def ratio_to_floor(self) -> float | None:
        return self.bridge / self.floor if self.bridge and self.floor else None

    @property
    def ratio_to_two_hops(self) -> float | None:
        return self.bridge / self.two_hops if self.bridge and self.two_hops else None

    def to_json(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "ratio_to_floor": self.ratio_to_floor,
            "ratio_to_two_hops": self.ratio_to_two_hops,
        }


@dataclass
class FloorRow:
    """The distance to the floor of one streamed download (kind, size, chunk)."""

    kind: str
    size_bytes: int
    chunk_bytes: int
    host: Distance = field(default_factory=Distance)
    plugin: Distance = field(default_factory=Distance)
    total: Distance = field(default_factory=Distance)

    def sides(self) -> dict[str, Distance]:
        return {"host": self.host, "plugin": self.plugin, "total": self.total}

    @property
    def noisy(self) -> bool:
        """Its CPU figures come from transfers smaller than CPU_STEADY_BYTES."""
        return self.size_bytes < CPU_STEADY_BYTES

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "size_bytes": self.size_bytes,
            "chunk_bytes": self.chunk_bytes,
            **{name: d.to_json() for name, d in self.sides().items()},
        }

    @classmethod
    def from_json(cls, data: Any) -> FloorRow:
        data = mapping(data)

        def side(name: str) -> Distance:
            return record(Distance, data.get(name))

        return cls(
            str(data.get("kind", "")),
            int(data.get("size_bytes", 0)),
            int(data.get("chunk_bytes", 0)),
            side("host"),
            side("plugin"),
            side("total"),
        )


@dataclass
class SweepRow:
    """The largest transfer of one kind at one chunk setting, every target side by side."""

    chunk_bytes: int
    kind: str
    size_bytes: int
    mb_s: dict[str, float | None] = field(default_factory=dict)  # per target
    # The bridge's processes (host, plugin); empty when the bridge did not run.
    rss_growth_bytes: dict[str, float | None] = field(default_factory=dict)
    cpu_s_per_gib: dict[str, float | None] = field(default_factory=dict)

    @property
    def bridge_vs_go_direct(self) -> float | None:
        bridge, direct = self.mb_s.get("bridge"), self.mb_s.get("go-direct")
        return bridge / direct if bridge and direct else None

    def to_json(self) -> dict[str, Any]:
        """Flat keys such as `go-direct_mb_s`, `host_cpu_s_per_gib`."""
        out: dict[str, Any] = {
            "chunk_bytes": self.chunk_bytes,
            "kind": self.kind,
            "size_bytes": self.size_bytes,
        }
        out.update({f"{target}_mb_s": v for target, v in self.mb_s.items()})
        for proc in self.rss_growth_bytes:
            out[f"{proc}_rss_growth_bytes"] = self.rss_growth_bytes[proc]
            out[f"{proc}_cpu_s_per_gib"] = self.cpu_s_per_gib.get(proc)
        out["bridge_vs_go_direct"] = self.bridge_vs_go_direct
        return out

    @classmethod
    def from_json(cls, data: Any) -> SweepRow:
        data = mapping(data)
        row = cls(int(data.get("chunk_bytes", 0)), str(data.get("kind", "")), 0)
        row.size_bytes = int(data.get("size_bytes", 0))
        for key, value in data.items():
            if key.endswith("_mb_s"):
                row.mb_s[key.removesuffix("_mb_s")] = value
            elif key.endswith("_rss_growth_bytes"):
                proc = key.removesuffix("_rss_growth_bytes")
                row.rss_growth_bytes[proc] = value
                row.cpu_s_per_gib[proc] = data.get(f"{proc}_cpu_s_per_gib")
        return row


@dataclass
class ToolStep:
    """pytest-benchmark or Locust after the scenarios: ok, failed or skipped, and why."""

    status: str
    detail: str = ""
    returncode: int | None = None


@dataclass
class SamplerInfo:
    samples: int = 0
    sources: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the first 20
    error_count: int = 0


@dataclass
class LatestCapacity:
    """The newest capacity run beside a `bench run`: its id, link and capacities."""

    run_id: str
    summary: str
    capacity: dict[str, int] = field(default_factory=dict)  # "<target>/<mode>" -> streams


@dataclass
class RunSummary:
    """summary.json of a `bench run` or `bench sweep`."""

    run_id: str
    created_utc: str = ""
    profile: str = "?"
    environment: Environment = field(default_factory=Environment)
    scenarios: list[ScenarioRow] = field(default_factory=list)
    references: list[ReferenceRow] = field(default_factory=list)
    floors: list[FloorRow] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    steps: dict[str, ToolStep] = field(default_factory=dict)
    containers: dict[str, ContainerFigures] = field(default_factory=dict)  # "<svc>/c<chunk>"
    sampler: SamplerInfo = field(default_factory=SamplerInfo)
    sweep: list[SweepRow] | None = None
    files: list[str] = field(default_factory=list)
    latest_capacity: LatestCapacity | None = None
    schema_version: int = SCHEMA_VERSION
    path: str = ""  # where it was read from (not written)

    @property
    def verdicts_passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    def failed_verdicts(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]

    def by_id(self) -> dict[str, ScenarioRow]:
        return {s.id: s for s in self.scenarios}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "kind": RUN_KIND,
            "run_id": self.run_id,
            "created_utc": self.created_utc,
            "profile": self.profile,
            "environment": dataclasses.asdict(self.environment),
            "scenarios": [s.to_json() for s in self.scenarios],
            "references": [r.to_json() for r in self.references],
            "floors": [f.to_json() for f in self.floors],
            "verdicts": [v.to_json() for v in self.verdicts],
            "verdicts_passed": self.verdicts_passed,
            "steps": {k: dataclasses.asdict(v) for k, v in self.steps.items()},
            "containers": {k: v.to_json() for k, v in self.containers.items()},
            "sampler": dataclasses.asdict(self.sampler),
            "files": self.files,
        }
        if self.sweep is not None:
            out["sweep"] = [r.to_json() for r in self.sweep]
        if self.latest_capacity is not None:
            out["latest_capacity"] = dataclasses.asdict(self.latest_capacity)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], path: str = "") -> RunSummary:
        """Any version's run summary; what an older file lacks reads as empty."""
        latest = mapping(data.get("latest_capacity"))
        sweep = data.get("sweep")
        return cls(
            run_id=str(data.get("run_id") or ""),
            created_utc=str(data.get("created_utc") or ""),
            profile=str(data.get("profile") or "?"),
            environment=Environment.from_json(data.get("environment")),
            scenarios=[ScenarioRow.from_json(s) for s in listing(data.get("scenarios"))],
            references=[ReferenceRow.from_json(r) for r in listing(data.get("references"))],
            floors=[FloorRow.from_json(f) for f in listing(data.get("floors"))],
            verdicts=[Verdict.from_json(v) for v in listing(data.get("verdicts"))],
            steps={
                k: record(ToolStep, {"status": "?", **mapping(v)})
                for k, v in mapping(data.get("steps")).items()
            },
            containers={
                k: ContainerFigures.from_json(v) for k, v in mapping(data.get("containers")).items()
            },
            sampler=record(SamplerInfo, data.get("sampler")),
            sweep=[SweepRow.from_json(r) for r in sweep] if isinstance(sweep, list) else None,
            files=[str(f) for f in listing(data.get("files"))],
            latest_capacity=record(LatestCapacity, latest) if "run_id" in latest else None,
            schema_version=int(data.get("schema_version") or SCHEMA_VERSION),
            path=path,
        )


def validate_run(data: dict[str, Any], path: str) -> None:
    """What a run summary must have to be compared: a list of scenarios with ids."""
    scenarios = data.get("scenarios")
    if not isinstance(scenarios, list):
        raise SummaryError(f"{path}: 'scenarios' missing or not a list")
    for i, s in enumerate(scenarios):
        if not isinstance(s, dict) or "id" not in s or "ok" not in s:
            raise SummaryError(f"{path}: scenarios[{i}] lacks 'id'/'ok'")
