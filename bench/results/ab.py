"""summary.json of `bench rps` and `bench ab`: targets measured in alternating rounds.

Each round measures every target once, in turn, so a shared machine's load falls
on all of them alike; the figures that matter are the medians and each round's
ratio to the reference measured right beside it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bench.core.numbers import median
from bench.results.environment import Environment
from bench.results.format import AB_KIND, SCHEMA_VERSION, listing, mapping, number_map, record


@dataclass
class ABRound:
    """One target in one round."""

    value: float  # req/s (rps) or MB/s (transfers)
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)  # per process, in the run's cpu_unit
    client_cpu_cores: float | None = None
    errors: int = 0


@dataclass
class ABTarget:
    name: str  # a reference (python-direct, go-direct, ...) or a bridge variant
    spec: str = ""  # how it was started: the variant's NAME=TREE;ENV=...
    rounds: list[ABRound] = field(default_factory=list)

    @property
    def median_value(self) -> float | None:
        return median([r.value for r in self.rounds]) if self.rounds else None

    @property
    def best(self) -> ABRound | None:
        return max(self.rounds, key=lambda r: r.value) if self.rounds else None

    def median_of(self, figure: str) -> float | None:
        values = [getattr(r, figure) for r in self.rounds if getattr(r, figure) is not None]
        return median(values) if values else None

    def median_cpu(self) -> dict[str, float]:
        names = dict.fromkeys(n for r in self.rounds for n in r.cpu)
        return {n: median([r.cpu[n] for r in self.rounds if n in r.cpu]) for n in names}


@dataclass
class ABRun:
    run_id: str
    created_utc: str
    profile: str
    scenario: str  # the scenario kind every round ran: rps, download, upload, ...
    unit: str  # of ABRound.value
    cpu_unit: str  # of ABRound.cpu
    environment: Environment = field(default_factory=Environment)
    targets: list[ABTarget] = field(default_factory=list)
    reference: str | None = None  # ratios are to this target's round beside
    files: list[str] = field(default_factory=list)
    path: str = ""

    def target(self, name: str) -> ABTarget | None:
        return next((t for t in self.targets if t.name == name), None)

    def ratios(self, name: str, figure: str = "value") -> list[float]:
        """Round by round: this target's figure over the reference's in the same round."""
        mine, ref = self.target(name), self.target(self.reference or "")
        if mine is None or ref is None:
            return []
        return [
            getattr(a, figure) / getattr(b, figure)
            for a, b in zip(mine.rounds, ref.rounds, strict=False)
            if getattr(a, figure) and getattr(b, figure)
        ]

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("path")
        for target_data, target in zip(data["targets"], self.targets, strict=True):
            target_data["median_value"] = target.median_value
        return {"schema_version": SCHEMA_VERSION, "kind": AB_KIND, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any], path: str = "") -> ABRun:
        targets = []
        for t in listing(data.get("targets")):
            rounds = []
            for r in listing(mapping(t).get("rounds")):
                rnd = record(ABRound, {"value": 0.0, **mapping(r)})
                rnd.cpu = number_map(rnd.cpu)
                rounds.append(rnd)
            targets.append(ABTarget(str(t["name"]), str(t.get("spec", "")), rounds))
        return cls(
            run_id=str(data["run_id"]),
            created_utc=str(data.get("created_utc", "")),
            profile=str(data.get("profile", "?")),
            scenario=str(data["scenario"]),
            unit=str(data.get("unit", "")),
            cpu_unit=str(data.get("cpu_unit", "")),
            environment=Environment.from_json(data.get("environment")),
            targets=targets,
            reference=data.get("reference"),
            files=[str(f) for f in listing(data.get("files"))],
            path=path,
        )
