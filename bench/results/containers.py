"""What a container did during a run, read through the Docker SDK, and its pass rule."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bench.results.format import mapping, record


@dataclass
class ContainerFigures:
    """What one service's container did during a run (Docker SDK)."""

    service: str
    container: str = ""
    limit_bytes: int = 0
    samples: int = 0
    last_bytes: int = 0
    peak_bytes: int = 0  # largest working set sampled
    max_usage_bytes: int | None = None  # cgroup v1 kernel peak (page cache included)
    cgroup: str = ""
    oom_killed: bool = False
    restart_count: int = 0
    running: bool = True
    exit_code: int | None = None

    def held(self) -> bool:
        """The container pass rule: never OOM-killed or restarted, and its peak working
        set under its cap (a limit of 0 means no cap was read: only survival counts)."""
        survived = not self.oom_killed and self.restart_count == 0
        return survived and (not self.limit_bytes or self.peak_bytes < self.limit_bytes)

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(ContainerFigures)}
        return {**data, "within_limit": self.held()}

    @classmethod
    def from_json(cls, data: Any) -> ContainerFigures:
        return record(cls, {"service": "", **mapping(data)})
