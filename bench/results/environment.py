"""Where a run came from: the machine, the versions, the commit, the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.core.units import human_size
from bench.results.format import listing, mapping, record


@dataclass
class Environment:
    """What a figure depends on: the machine, the versions, the commit, the settings."""

    mode: str = "spawned"  # "spawned", "external" (running services) or "docker"
    python: str | None = None
    platform: str | None = None
    machine: str | None = None
    cpu_count: int | None = None
    cpu_model: str | None = None  # /proc/cpuinfo's model name (platform.processor() elsewhere)
    memory_total_bytes: int | None = None
    hostname: str | None = None
    go: str | None = None  # `go version` where the bench ran
    host_go_version: str | None = None  # what the running host says it was built with
    hoststub_bin: str | None = None
    grpcio: str | None = None
    psutil: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    chunk_sizes: list[int] = field(default_factory=list)
    # The knobs the processes were started with (HOSTSTUB_*, PLUGIN_*, GOPLUGINHOST_*,
    # BENCH_* set in the environment): runs under other settings are not comparable.
    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> Environment:
        env = record(cls, data)
        env.chunk_sizes = [int(c) for c in listing(env.chunk_sizes)]
        env.settings = {str(k): str(v) for k, v in mapping(env.settings).items()}
        return env

    def line(self) -> str:
        """The one-line environment of summary.md."""
        go = f"host built with {self.host_go_version}" if self.host_go_version else self.go
        chunks = ", ".join(human_size(c) for c in self.chunk_sizes) or "-"
        settings = ", ".join(f"{k}={v}" for k, v in sorted(self.settings.items()))
        cpus = f"{self.cpu_count} CPUs" + (f" ({self.cpu_model})" if self.cpu_model else "")
        return (
            f"{cpus}, Python {self.python}, {go or 'go ?'}, commit "
            f"{str(self.git_commit)[:12]}{' (dirty)' if self.git_dirty else ''}, chunk sizes "
            f"{chunks}, mode {self.mode}" + (f", settings {settings}" if settings else "") + "."
        )
