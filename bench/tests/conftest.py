"""Shared fixtures: a tiny HTTP server with a fake /debug/stats, synthetic runs."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench.core.paths import REPO_ROOT
from bench.core.targets import Target
from bench.load.client import chunked_frames
from bench.observe.samplers import Sample, Timeline, Window
from bench.scenarios import SCENARIOS
from bench.scenarios.base import ScenarioResult
from plugin_runtime.examples.pattern import pattern_block, pattern_chunks

MiB = 1024 * 1024


class FakeHost:
    """Serves GET /debug/stats from a mutable dict and a few byte routes for the client."""

    def __init__(self) -> None:
        self.stats: dict[str, Any] = {
            "host": {"rss_bytes": 20 * MiB, "goroutines": 12, "active_streams": 0, "pid": 1},
            "plugin": {"rss_bytes": 40 * MiB, "active_handlers": 0, "handlers_cancelled": 3},
        }
        self.requests = 0
        self.connections = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:  # once per accepted connection
                fake.connections += 1
                super().setup()

            def do_GET(self) -> None:
                fake.requests += 1
                if self.path == "/debug/stats":
                    body = json.dumps(fake.stats).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path.startswith("/chunked"):
                    self.send_response(200)
                    # Any letter case: the coding's name is case-insensitive.
                    self.send_header("Transfer-Encoding", "Chunked")
                    self.end_headers()
                    frames = list(chunked_frames(pattern_chunks(300_000, 70_000)))
                    if "truncated" in self.path:
                        frames.pop()  # no last-chunk: the body never ends
                    for frame in frames:
                        self.wfile.write(frame)
                    self.close_connection = True
                elif self.path == "/informational":
                    # Interim answers before the real one: 100 Continue, then 103 with a header.
                    self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(pattern_block(1000))
                elif self.path == "/until-close":
                    # No Content-Length, not chunked: the body ends when the connection does.
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(pattern_block(1000))
                    self.close_connection = True
                elif self.path.startswith("/wrong"):
                    body = bytearray(pattern_block(1024))
                    body[700] = 0xFF
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_host() -> Iterator[FakeHost]:
    with FakeHost() as host:
        yield host


def synthetic_result(
    timeline: Timeline,
    kind: str,
    target: str,
    size: int,
    growth: dict[str, float],
    start: float,
    chunk: int = 65536,
    throughput: float | None = 500.0,
    ok: bool = True,
) -> ScenarioResult:
    """A finished scenario whose window holds a baseline and a peak sample per process."""
    scenario = SCENARIOS[kind](target=target, chunk=chunk, size=size)
    window = Window(scenario.id, start, start + 1.0)
    timeline.windows.append(window)
    for process, grow in growth.items():
        base = 50 * MiB
        timeline.samples.append(Sample(start, process, {"rss_bytes": base}))
        timeline.samples.append(Sample(start + 0.5, process, {"rss_bytes": base + grow}))
        timeline.samples.append(Sample(start + 1.0, process, {"rss_bytes": base}))
    return ScenarioResult(
        scenario=scenario,
        target=Target(target, "http://x", {p: 1 for p in growth}),
        window=window,
        ok=ok,
        error=None if ok else "boom",
        seconds=1.0,
        bytes=size,
        throughput_mb_s=throughput,
        latencies_s=[0.001, 0.002, 0.003],
    )


@functools.cache
def plugin_serves_files() -> bool:
    """The plugin runtime takes --files-root (it serves /file): file scenarios and file
    ramps can run against spawned services."""
    usage = subprocess.run(
        [sys.executable, "-m", "plugin_runtime", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "--files-root" in usage.stdout
