"""Issue checklist items proved end to end that the other e2e modules leave out.

- Issue 6: a real Starlette app (StreamingResponse, request.stream()) served through
  the ASGI adapter as the plugin, THROUGH THE HOST: chunks arrive one by one, the
  upload is streamed (full duplex echo, bounded memory), a disconnect cancels it.
- Issue 5: a plugin that breaks the wire contract (header injection with CR/LF/NUL, a
  second init, a message after completion, no completion, an oversize message) gets
  a 500 before response-init or an aborted transfer after it, and a host log line
  naming the plugin and the reason; nothing is left running afterwards.
- Issue 5: the documented TCP form of the plugin listens on loopback only.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shlex
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
from e2e_support import (
    ABORTED_TRANSFER,
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

from bench.client import PatternVerifier, pattern_chunks
from bench.samplers import StatsClient
from bench.stack import Stack, run_stack
from plugin_runtime.examples.misbehaving import CASES, COMMITS_FIRST

STARLETTE_APP = "plugin_runtime.examples.starlette_app:plugin"
MISBEHAVING_APP = "plugin_runtime.examples.misbehaving:app"
# Far below the body: an adapter or bridge that buffered it would grow by the body size.
BODY = 64 * MiB
RSS_GROWTH_LIMIT = 32 * MiB


@pytest.fixture(scope="module")
def starlette_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("starlette-logs")
    host_args = shlex.split(os.environ.get("E2E_HOST_ARGS", ""))  # e.g. --buffered
    with run_stack(
        app=STARLETTE_APP, plugin_id="starlette", host_args=host_args, log_dir=logs
    ) as running:
        yield running


@pytest.fixture(scope="module")
def rogue_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("rogue-logs")
    # The host's smallest allowed message limit (>= --request-chunk-bytes), so the
    # /oversize case stays cheap.
    with run_stack(
        app=MISBEHAVING_APP,
        plugin_id="rogue",
        host_args=["--max-message-bytes=65536"],
        log_dir=logs,
    ) as running:
        yield running


# ---- issue 6: a Starlette app through the host ------------------------------------


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
    record_figure("starlette.first_to_last_tick", spread, "s")
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
    record_figure("starlette.download_64mib.plugin_rss_growth", growth.plugin / MiB, "MiB")
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
    record_figure("starlette.upload_64mib.plugin_rss_growth", growth.plugin / MiB, "MiB")
    assert growth.plugin < RSS_GROWTH_LIMIT and growth.host < RSS_GROWTH_LIMIT, growth


def test_starlette_echo_is_full_duplex(starlette_stack: Stack) -> None:
    """Each piece comes back before the next is sent: upload and download both stream."""
    assert_echo_is_full_duplex(starlette_stack, pieces=6)


def test_starlette_disconnect_cancels_the_app(starlette_stack: Stack, record_figure) -> None:
    before, _ = wait_until(lambda: plugin_idle(starlette_stack), DEADLINE_S, what="idle plugin")
    sock = raw_socket(starlette_stack)
    sock.sendall(b"GET /plugins/starlette/forever HTTP/1.1\r\nHost: e2e\r\n\r\n")
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
    record_figure("starlette.cancel_latency", (time.monotonic() - closed_at) * 1000, "ms")


# ---- issue 5: a plugin that breaks the wire contract -------------------------------

REASONS = {
    "header-crlf-value": "invalid response header",
    "header-lf-value": "invalid response header",
    "header-nul-value": "invalid response header",
    "header-cr-name": "invalid response header",
    "second-init": "second response-init",
    "after-complete": "message after body_complete",
    "no-complete": "without body_complete",
    "oversize": "larger than max-message-bytes",
}


def test_every_misbehaviour_has_an_expected_reason() -> None:
    assert set(REASONS) == set(CASES)


def _host_log_lines(stack: Stack, path: str) -> list[str]:
    text = (stack.log_dir / "host.log").read_text(errors="replace")
    return [line for line in text.splitlines() if re.search(rf"path={re.escape(path)}\b", line)]


@pytest.mark.parametrize("case", sorted(REASONS))
def test_misbehaving_plugin_gets_500_or_abort_and_a_log_line(rogue_stack: Stack, case: str) -> None:
    conn, prefix = connect(rogue_stack, timeout=10.0)
    conn.request("GET", f"{prefix}/{case}")
    if case in COMMITS_FIRST:
        # The status was committed before the mistake: only an abort is honest (the
        # client may or may not have the status line and some bytes when it is cut).
        with pytest.raises(ABORTED_TRANSFER):
            conn.getresponse().read()
    else:
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 500, (resp.status, body[:200])
        assert b"body" not in body and b"ooo" not in body, body[:200]
        # Nothing the plugin put in its headers reaches the client (no injection).
        assert resp.getheader("X-Fine") is None and resp.getheader("X-Injected") is None
        assert "evil" not in str(resp.getheaders())
    conn.close()

    def logged() -> list[str]:
        return [
            line
            for line in _host_log_lines(rogue_stack, f"/{case}")
            if "plugin_id=rogue" in line and REASONS[case] in line
        ]

    wait_until(logged, DEADLINE_S, what=f"host log line naming plugin rogue and {REASONS[case]!r}")
    wait_until(lambda: plugin_idle(rogue_stack), DEADLINE_S, what="no stream or handler left")
    assert rogue_stack.host.poll() is None, "host died"


def test_host_keeps_serving_after_misbehaviour(rogue_stack: Stack) -> None:
    conn, prefix = connect(rogue_stack)
    conn.request("GET", f"{prefix}/no-such-case")
    resp = conn.getresponse()
    assert resp.status == 404 and b"unknown case" in resp.read()
    conn.close()
    assert "panic" not in (rogue_stack.log_dir / "host.log").read_text(errors="replace")


# ---- issue 5: the plugin is not reachable from outside -----------------------------


def test_tcp_plugin_listens_on_loopback_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with run_stack(transport="tcp", log_dir=tmp_path) as stack:
        conn, prefix = connect(stack)
        conn.request("GET", f"{prefix}/status?code=200")
        assert conn.getresponse().status == 200
        conn.close()
        listening = [
            c.laddr
            for c in psutil.Process(stack.plugin.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
    assert listening, "plugin has no listening TCP socket"
    assert all(_is_loopback(addr.ip) for addr in listening), listening


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return (mapped or address).is_loopback
