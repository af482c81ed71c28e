"""A real Starlette app (StreamingResponse, request.stream()) as the plugin, through the host.

Twice over: wrapped by `asgi_handler` in the module (`starlette_app:plugin`), and
named directly (`starlette_app:app`), which the runtime detects as an ASGI 3 app.
Either way chunks arrive one by one, the upload is streamed (full-duplex echo,
bounded memory) and a client disconnect cancels the app.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from collections.abc import Iterator

import httpx
import pytest
from e2e_support import (
    DEADLINE_S,
    MiB,
    assert_echo_is_full_duplex,
    connect,
    plugin_idle,
    raw_socket,
    read_download,
    rss_growth,
    start_upload,
    wait_until,
)

from bench.observe.samplers import StatsClient
from bench.runner.stack import Stack, run_stack
from plugin_runtime.examples.pattern import PatternVerifier, pattern_chunks

# plugin id -> --app: the module's asgi_handler wrapper, and the Starlette app itself.
STARLETTE_APPS = {
    "starlette": "plugin_runtime.examples.starlette_app:plugin",
    "starlette-asgi": "plugin_runtime.examples.starlette_app:app",
}
# Far below the body: an adapter or bridge that buffered it would grow by the body size.
BODY = 64 * MiB
RSS_GROWTH_LIMIT = 32 * MiB


@pytest.fixture(scope="module", params=sorted(STARLETTE_APPS))
def starlette_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    plugin_id = request.param
    logs = tmp_path_factory.mktemp(f"{plugin_id}-logs")
    host_args = shlex.split(os.environ.get("E2E_HOST_ARGS", ""))  # e.g. --buffered
    with run_stack(
        app=STARLETTE_APPS[plugin_id], plugin_id=plugin_id, host_args=host_args, log_dir=logs
    ) as running:
        yield running


def test_plugin_log_names_the_interface(starlette_stack: Stack) -> None:
    """--interface auto told the wrapped handler from the bare ASGI app."""
    expected = "asgi" if starlette_stack.plugin_id == "starlette-asgi" else "plugin"
    log = (starlette_stack.log_dir / "plugin.log").read_text(errors="replace")
    assert f"interface={expected}" in log, log[-2000:]


def test_starlette_streaming_response_arrives_incrementally(
    starlette_stack: Stack, record_figure
) -> None:
    lines, interval_s = 5, 0.2
    arrivals: list[float] = []
    url = f"{starlette_stack.plugin_url}/ticks?count={lines}&interval_ms=200"
    with httpx.Client(timeout=10.0) as client, client.stream("GET", url) as resp:
        assert resp.status_code == 200
        started = time.monotonic()
        for line in resp.iter_lines():
            assert line.startswith("tick "), line
            arrivals.append(time.monotonic() - started)
        ended = time.monotonic() - started
    assert len(arrivals) == lines
    spread = arrivals[-1] - arrivals[0]
    record_figure(f"{starlette_stack.plugin_id}.first_to_last_tick", spread, "s")
    # Each StreamingResponse chunk is flushed through the host; buffered: all at the end.
    assert spread >= 0.5 * (lines - 1) * interval_s, arrivals
    assert arrivals[0] < ended - 0.5 * (lines - 1) * interval_s, (arrivals, ended)


def test_starlette_download_streams_in_bounded_memory(
    starlette_stack: Stack, record_figure
) -> None:
    conn, prefix = connect(starlette_stack)
    with rss_growth(starlette_stack) as growth:
        conn.request("GET", f"{prefix}/download?size={BODY}&chunk={64 * 1024}")
        resp = conn.getresponse()
        assert resp.status == 200
        verifier = PatternVerifier()
        assert read_download(resp, verifier) == BODY
    conn.close()
    record_figure(
        f"{starlette_stack.plugin_id}.download_64mib.plugin_rss_growth", growth.plugin / MiB, "MiB"
    )
    assert growth.plugin < RSS_GROWTH_LIMIT and growth.host < RSS_GROWTH_LIMIT, growth


def test_starlette_upload_is_streamed_through_request_stream(
    starlette_stack: Stack, record_figure
) -> None:
    conn, prefix = connect(starlette_stack)
    with rss_growth(starlette_stack) as growth:
        pump = start_upload(conn, f"{prefix}/upload", BODY, chunk=64 * 1024)
        resp = conn.getresponse()
        reply = resp.read()
        assert pump.done.wait(DEADLINE_S) and pump.error is None, pump.error
    conn.close()
    assert resp.status == 200, reply[:200]
    expected = hashlib.sha256()
    for piece in pattern_chunks(BODY, 64 * 1024):
        expected.update(piece)
    result = json.loads(reply)
    assert result["bytes"] == BODY and result["sha256"] == expected.hexdigest()
    # request.stream() saw the body in pieces, never as one whole buffer.
    assert result["chunks"] >= BODY // (1024 * 1024), result
    record_figure(
        f"{starlette_stack.plugin_id}.upload_64mib.plugin_rss_growth", growth.plugin / MiB, "MiB"
    )
    assert growth.plugin < RSS_GROWTH_LIMIT and growth.host < RSS_GROWTH_LIMIT, growth


def test_starlette_echo_is_full_duplex(starlette_stack: Stack) -> None:
    """Each piece comes back before the next is sent: upload and download both stream."""
    assert_echo_is_full_duplex(starlette_stack, pieces=6)


def test_starlette_disconnect_cancels_the_app(starlette_stack: Stack, record_figure) -> None:
    before, _ = wait_until(lambda: plugin_idle(starlette_stack), DEADLINE_S, what="idle plugin")
    sock = raw_socket(starlette_stack)
    sock.sendall(
        f"GET /plugins/{starlette_stack.plugin_id}/forever HTTP/1.1\r\nHost: e2e\r\n\r\n".encode()
    )
    seen = b""
    while b"first" not in seen:  # the first StreamingResponse chunk got through
        data = sock.recv(4096)
        assert data, f"connection closed before the first chunk: {seen!r}"
        seen += data
    closed_at = time.monotonic()
    sock.close()

    stats = StatsClient(starlette_stack.stats_url)  # one keep-alive connection for the polling

    def cancelled() -> bool:
        plugin = stats.fetch()["plugin"]
        return (
            plugin["handlers_cancelled"] > before["handlers_cancelled"]
            and plugin["active_handlers"] == 0
        )

    # /forever never ends by itself: only the cancellation makes this hold; the
    # latency is reported, not asserted.
    try:
        wait_until(cancelled, DEADLINE_S, what="Starlette handler cancelled")
    finally:
        stats.close()
    record_figure(
        f"{starlette_stack.plugin_id}.cancel_latency", (time.monotonic() - closed_at) * 1000, "ms"
    )
