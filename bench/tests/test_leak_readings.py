"""Readings for the leak soak: a forced GC only when asked, the least of two readings."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.observe.samplers import Sampler
from bench.scenarios.soak import settled_reading


class StatsServer:
    """GET /debug/stats[?gc=1]: the host's live heap is 1 MB, plus a 256 KiB read
    buffer held at every other forced reading (the transient the engine must drop)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.collections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.paths.append(self.path)
                forced = self.path == "/debug/stats?gc=1"
                if forced:
                    server.collections += 1
                held = 256 * 1024 if forced and server.collections % 2 else 0
                stats = {
                    "host": {"heap_live_bytes": 1_000_000 + held, "gc_forced": forced},
                    "plugin": {"allocated_blocks": 90_000, "active_handlers": 0},
                }
                if forced:
                    stats["plugin"]["gc_objects"] = 5000
                body = json.dumps(stats).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/debug/stats"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stats_server() -> Iterator[StatsServer]:
    server = StatsServer()
    yield server
    server.close()


def test_plain_sampling_never_forces_a_collection(stats_server: StatsServer) -> None:
    sampler = Sampler(stats_url=stats_server.url, include_loadgen=False)
    for _ in range(3):
        sampler.sample_now()
    assert sampler.latest_stats()["host.heap_live_bytes"] == 1_000_000
    assert stats_server.paths and all(p == "/debug/stats" for p in stats_server.paths)


def test_collected_stats_asks_for_a_collection_and_lands_in_the_timeline(
    stats_server: StatsServer,
) -> None:
    sampler = Sampler(stats_url=stats_server.url, include_loadgen=False)
    reading = sampler.collected_stats()
    assert stats_server.paths == ["/debug/stats?gc=1"]
    assert reading["plugin.gc_objects"] == 5000
    assert sampler.timeline.series("stats", "plugin.gc_objects") == [
        (pytest.approx(sampler.timeline.samples[-1].t), 5000.0)
    ]


def test_settled_reading_keeps_the_least_of_two(stats_server: StatsServer) -> None:
    sampler = Sampler(stats_url=stats_server.url, include_loadgen=False)
    for _ in range(3):
        reading = settled_reading(sampler)
        # One of each pair held the 256 KiB buffer; the least reading does not.
        assert reading["host.heap_live_bytes"] == 1_000_000
        assert reading["plugin.allocated_blocks"] == 90_000
    assert stats_server.collections == 6


def test_settled_reading_without_stats_is_empty() -> None:
    assert settled_reading(Sampler(include_loadgen=False)) == {}
