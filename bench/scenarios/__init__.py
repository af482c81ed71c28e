"""Scenarios: what a run measures, one typed class per kind, in the order a run runs them.

Each kind (bench/scenarios/base.py: `Scenario`) carries its own parameters,
says which scenarios a profile asks for (`plan`) and runs them (`run`),
recording a typed reading where the judge needs more than throughput and
latency. The engine (bench/runner/engine.py) runs any of them the same way.

| kind | module |
| --- | --- |
| download, upload, echo, concurrent | transfer.py |
| file, file-offload | files.py |
| small, rps, sse | latency.py |
| slow-reader, abort | behaviour.py |
| soak | soak.py |
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.core.profiles import Profile
from bench.scenarios.base import Scenario
from bench.scenarios.behaviour import Abort, SlowReader
from bench.scenarios.files import FileDownload, FileOffload
from bench.scenarios.latency import Rps, Small, Sse
from bench.scenarios.soak import Soak
from bench.scenarios.transfer import Concurrent, Download, Echo, Upload

SCENARIOS: dict[str, type[Scenario]] = {
    "download": Download,
    "upload": Upload,
    "file": FileDownload,
    "file-offload": FileOffload,
    "echo": Echo,
    "concurrent": Concurrent,
    "small": Small,
    "rps": Rps,
    "sse": Sse,
    "slow-reader": SlowReader,
    "abort": Abort,
    "soak": Soak,
}
KINDS = tuple(SCENARIOS)
# Kinds that need a files root the host and the plugin share.
FILE_KINDS = ("file", "file-offload")


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
    return [
        scenario
        for kind, cls in SCENARIOS.items()
        if kind in wanted
        for scenario in cls.plan(profile, chunk)
        if scenario.target in available
    ]
