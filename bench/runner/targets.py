"""Targets: the bridge and the references a scenario can be sent to, side by side."""

from __future__ import annotations

from dataclasses import dataclass, field

BRIDGE = "bridge"  # client -> host -> gRPC stream -> plugin
GO_DIRECT = "go-direct"  # the host serving /direct/download and /direct/upload itself
PYTHON_DIRECT = "python-direct"  # uvicorn serving the demo handler via asgi_app
BUFFERED = "buffered"  # a second host with --buffered against the same plugin
TARGETS = (BRIDGE, GO_DIRECT, PYTHON_DIRECT, BUFFERED)


@dataclass
class Target:
    """Where a scenario sends its requests, and which processes serve them."""

    name: str
    base_url: str  # plugin-style routes below it: /download, /upload, /echo, ...
    processes: dict[str, int] = field(default_factory=dict)  # name -> pid (spawned only)
    download_path: str = "/download"
    upload_path: str = "/upload"

    @classmethod
    def go_direct(cls, host_url: str, processes: dict[str, int]) -> Target:
        return cls(GO_DIRECT, host_url, processes, "/direct/download", "/direct/upload")
