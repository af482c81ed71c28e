"""Shared fixtures: a tiny HTTP server with a fake /debug/stats, synthetic runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench.observe.samplers import Sample, Timeline, Window
from bench.runner.targets import Target
from bench.scenarios import SCENARIOS
from bench.scenarios.base import ScenarioResult

MiB = 1024 * 1024


class FakeHost:
    """Serves GET /debug/stats from a mutable dict and a few byte routes for the client."""

    def __init__(self) -> None:
        self.stats: dict[str, Any] = {
            "host": {"rss_bytes": 20 * MiB, "goroutines": 12, "active_streams": 0, "pid": 1},
            "plugin": {"rss_bytes": 40 * MiB, "active_handlers": 0, "handlers_cancelled": 3},
        }
        self.requests = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

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
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, 300_000, 70_000):
                        piece = bytes((i % 256) for i in range(start, min(start + 70_000, 300_000)))
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    if "truncated" not in self.path:
                        self.wfile.write(b"0\r\n\r\n")
                    self.close_connection = True
                elif self.path.startswith("/wrong"):
                    body = bytes(range(256)) * 4
                    body = body[:700] + b"\xff" + body[701:]
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
