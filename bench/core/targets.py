"""Targets: the bridge and the peers a scenario can be sent to, side by side.

A target is a base URL with the demo plugin's routes below it, and the
processes that serve it: process ids when the bench started them (psutil reads
them), else where a running service's `/debug/stats` reports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BRIDGE = "bridge"  # client -> host -> gRPC stream -> Python plugin
GO_DIRECT = "go-direct"  # the host serving the bytes itself (/direct/*): the HTTP hop alone
PYTHON_DIRECT = "python-direct"  # uvicorn serving the same demo handler: the Python hop alone
BUFFERED = "buffered"  # a second host with --buffered: the naive bridge
GO_PLUGIN = "go-plugin"  # a Go plugin on the legacy plugin RPC (net/rpc over go-plugin)
GRPC_FLOOR = "grpc-floor"  # the host pulling the plugin's response over gRPC, discarding it
TARGETS = (BRIDGE, GO_DIRECT, PYTHON_DIRECT, BUFFERED, GO_PLUGIN, GRPC_FLOOR)
# What a bench run starts beside the bridge unless told not to (--no-references):
# each is a process of its own. Go direct and the gRPC floor are routes of the host.
SPAWNED_REFERENCES = (PYTHON_DIRECT, BUFFERED, GO_PLUGIN)

HOST_STATS = "stats"  # the sampler's name for the host's /debug/stats
GO_PLUGIN_STATS = "stats:go-plugin"  # ... and for the Go plugin host's


@dataclass(frozen=True)
class StatsProcess:
    """A process as a running service's /debug/stats reports it: which stats source
    (`HOST_STATS`, `GO_PLUGIN_STATS`) and which of its objects (`host`, `plugin`)."""

    source: str
    side: str

    def key(self, figure: str) -> str:
        """The flattened stats key of one figure, e.g. `host.rss_bytes`."""
        return f"{self.side}.{figure}"


@dataclass
class Target:
    """Where a scenario sends its requests, and which processes serve them."""

    name: str
    base_url: str  # plugin-style routes below it: /download, /upload, /echo, /file, ...
    processes: dict[str, int] = field(default_factory=dict)  # name -> pid (spawned)
    stats_processes: dict[str, StatsProcess] = field(default_factory=dict)  # running services
    download_path: str = "/download"
    upload_path: str = "/upload"
    file_path: str = "/file"
    # The gRPC floor answers a GET with a JSON count of the body it received and
    # discarded, instead of the body.
    discards: bool = False
    # Compose services whose containers serve it: their working sets are its figures.
    containers: tuple[str, ...] = ()

    @property
    def process_names(self) -> list[str]:
        return list(self.processes or self.stats_processes)


def bridge_processes(host: int | None = None, plugin: int | None = None) -> dict[str, int]:
    """{"host": pid, "plugin": pid} of a spawned bridge (the names every report uses)."""
    return {name: pid for name, pid in (("host", host), ("plugin", plugin)) if pid is not None}


# The compose services of the bridge: its host and its plugin.
BRIDGE_CONTAINERS = ("host", "plugin")

HOST_SIDES = {
    "host": StatsProcess(HOST_STATS, "host"),
    "plugin": StatsProcess(HOST_STATS, "plugin"),
}


def go_direct(host_url: str, processes: dict[str, int]) -> Target:
    """The host's own routes: /direct/download, /direct/upload, /direct/file."""
    return Target(
        GO_DIRECT,
        host_url,
        processes,
        {} if processes else {"host": HOST_SIDES["host"]},
        download_path="/direct/download",
        upload_path="/direct/upload",
        file_path="/direct/file",
        containers=("host",),
    )


def grpc_floor(host_url: str, processes: dict[str, int]) -> Target:
    """The host's /grpc-floor/... route: the plugin's response pulled and discarded."""
    return Target(
        GRPC_FLOOR,
        f"{host_url}/grpc-floor",
        processes,
        {} if processes else dict(HOST_SIDES),
        discards=True,
        containers=BRIDGE_CONTAINERS,
    )
