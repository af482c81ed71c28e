"""Slow and idle clients against a host started with short progress and idle timeouts.

A client that stops sending its body, or stops reading its response, or keeps an
idle keep-alive connection open, must not hold a host stream, a plugin handler or
a connection for longer than the timeouts: 408 before the response starts, an
aborted transfer after it, the plugin's handler cancelled, one host log line. A
client that is slow but keeps moving bytes is never cut, however long it takes.
Every wait here is on a condition with a deadline far above the timeouts.
"""

from __future__ import annotations

import hashlib
import http.client
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from e2e_support import (
    KiB,
    MiB,
    connect,
    fetch_stats,
    plugin_idle,
    raw_socket,
    read_download,
    wait_until,
)

from bench.load.client import LAST_CHUNK, chunk_frame
from bench.runner.stack import Stack, run_stack
from plugin_runtime.examples.pattern import PatternVerifier, pattern_chunks

# --read-progress-timeout, --write-progress-timeout, --idle-timeout: short, yet 20-30
# times the slow clients' steps below, so a loaded machine cannot cut them.
TIMEOUT_S = 2.0
CLIENTS = 20
# Generous for a loaded 2-core machine: the timeouts are 2 s.
SETTLE_S = 30.0


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    host_args = [
        f"--read-progress-timeout={TIMEOUT_S:g}s",
        f"--write-progress-timeout={TIMEOUT_S:g}s",
        f"--idle-timeout={TIMEOUT_S:g}s",
    ]
    with run_stack(host_args=host_args, log_dir=tmp_path_factory.mktemp("short")) as running:
        yield running


def host_log(stack: Stack) -> str:
    return (Path(stack.log_dir) / "host.log").read_text(errors="replace")


def plugin_counter(stack: Stack, name: str) -> int:
    return int(fetch_stats(stack)["plugin"][name])


def wait_closed_by_server(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes the connection (EOF or reset)."""
    received = b""
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.2)
        if not readable:
            continue
        try:
            data = sock.recv(64 * KiB)
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data
    raise AssertionError(f"connection still open; received so far {received[:200]!r}")


def small_buffer_connection(stack: Stack, rcvbuf: int = 64 * KiB) -> http.client.HTTPConnection:
    """A keep-alive connection whose receive buffer is set small before connecting, so
    the kernel cannot soak up megabytes of a response the client is not reading."""
    parts = urlsplit(stack.host_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(SETTLE_S)
    sock.connect((parts.hostname, parts.port))
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=SETTLE_S)
    conn.sock = sock
    return conn


def test_trickling_uploads_are_cut_and_release_everything(
    short_stack: Stack, record_figure
) -> None:
    """Twenty clients send upload headers and 10 bytes, then nothing."""
    wait_until(lambda: plugin_idle(short_stack), SETTLE_S, what="an idle stack to start from")
    handlers_before = plugin_counter(short_stack, "handlers_total")
    cancelled_before = plugin_counter(short_stack, "handlers_cancelled")
    head = (
        f"POST /plugins/{short_stack.plugin_id}/upload HTTP/1.1\r\n"
        f"Host: e2e\r\nContent-Length: {1 * MiB}\r\n\r\n"
    ).encode()
    clients = [raw_socket(short_stack, timeout=SETTLE_S) for _ in range(CLIENTS)]
    try:
        for sock in clients:
            sock.sendall(head + b"0123456789")
        started = time.monotonic()
        deadline = started + SETTLE_S
        answers = [wait_closed_by_server(sock, deadline) for sock in clients]
        wait_until(lambda: plugin_idle(short_stack), SETTLE_S, what="streams and handlers released")
    finally:
        for sock in clients:
            sock.close()
    record_figure("trickling_uploads.released_after", time.monotonic() - started, "s")
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"read-progress-timeout" in answer, answer[:400]
    # Every upload reached the plugin, and every handler has ended although no body
    # ever completed: the host cancelled the streams, and the runtime counts them so.
    assert plugin_counter(short_stack, "handlers_total") - handlers_before == CLIENTS
    assert plugin_counter(short_stack, "handlers_cancelled") - cancelled_before == CLIENTS
    cut = host_log(short_stack).count(
        "client sent no request body bytes within read-progress-timeout"
    )
    assert cut >= CLIENTS, host_log(short_stack)[-2000:]


def test_client_that_stops_reading_is_cut(short_stack: Stack, record_figure) -> None:
    wait_until(lambda: plugin_idle(short_stack), SETTLE_S, what="an idle stack to start from")
    cancelled_before = plugin_counter(short_stack, "handlers_cancelled")
    conn = small_buffer_connection(short_stack)
    prefix = urlsplit(short_stack.plugin_url).path
    try:
        conn.request("GET", f"{prefix}/download?size={1024 * MiB}")
        resp = conn.getresponse()
        assert resp.status == 200
        started = time.monotonic()
        # Read nothing more: the host's writes stop making progress.
        wait_until(lambda: plugin_idle(short_stack), SETTLE_S, what="the stalled download released")
        record_figure("stalled_reader.released_after", time.monotonic() - started, "s")
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            read_download(resp, PatternVerifier(), read_size=1 * MiB)
    finally:
        conn.close()
    # The handler blocked in write() was cancelled.
    assert plugin_counter(short_stack, "handlers_cancelled") - cancelled_before == 1
    assert "client read no response bytes within write-progress-timeout" in host_log(short_stack)


def test_idle_keepalive_connections_are_closed(short_stack: Stack, record_figure) -> None:
    clients = [raw_socket(short_stack, timeout=SETTLE_S) for _ in range(CLIENTS)]
    try:
        request = (
            f"GET /plugins/{short_stack.plugin_id}/status?code=200 HTTP/1.1\r\nHost: e2e\r\n\r\n"
        )
        for sock in clients:
            sock.sendall(request.encode())
        started = time.monotonic()
        deadline = started + SETTLE_S
        answers = [wait_closed_by_server(sock, deadline) for sock in clients]
        record_figure("idle_keepalive.closed_after", time.monotonic() - started, "s")
    finally:
        for sock in clients:
            sock.close()
    for answer in answers:
        # A complete keep-alive answer, then the server closed the idle connection.
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert answer.endswith(b"status 200\n"), answer[-200:]
        assert b"Connection: close" not in answer, answer[:400]


def test_slow_but_steady_download_completes(short_stack: Stack, record_figure) -> None:
    """4 MiB read at about 1 MiB/s: twice the timeout in all, 1/32 of it per step."""
    size, step, pause = 4 * MiB, 64 * KiB, TIMEOUT_S / 32
    conn = small_buffer_connection(short_stack)
    prefix = urlsplit(short_stack.plugin_url).path
    verifier = PatternVerifier()
    started = time.monotonic()
    try:
        conn.request("GET", f"{prefix}/download?size={size}")
        resp = conn.getresponse()
        assert resp.status == 200
        received = 0
        while True:
            data = resp.read(step)
            if not data:
                break
            verifier.update(memoryview(data))
            received += len(data)
            time.sleep(pause)  # the client's pace, not a wait for the host
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    record_figure("slow_download.seconds", elapsed, "s")
    assert received == size
    assert elapsed > TIMEOUT_S, f"{elapsed:.1f}s: too fast to prove anything"


def test_slow_but_steady_upload_completes(short_stack: Stack, record_figure) -> None:
    """512 KiB sent 16 KiB at a time, one piece every 1/20 of the timeout."""
    size, piece, pause = 512 * KiB, 16 * KiB, TIMEOUT_S / 20
    conn, prefix = connect(short_stack, timeout=SETTLE_S)
    digest = hashlib.sha256()
    started = time.monotonic()
    try:
        conn.putrequest("POST", f"{prefix}/upload")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        sock = conn.sock
        assert sock is not None
        for data in pattern_chunks(size, piece):
            digest.update(data)
            sock.sendall(b"".join(chunk_frame(data)))
            time.sleep(pause)  # the client's pace, not a wait for the host
        sock.sendall(LAST_CHUNK)
        resp = conn.getresponse()
        answer = resp.read()
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    record_figure("slow_upload.seconds", elapsed, "s")
    assert resp.status == 200, answer
    assert b'"bytes": %d' % size in answer or b'"bytes":%d' % size in answer, answer
    assert digest.hexdigest().encode() in answer, answer
    assert elapsed > TIMEOUT_S, f"{elapsed:.1f}s: too fast to prove anything"
