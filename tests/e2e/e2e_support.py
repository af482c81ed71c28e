"""Helpers for the end-to-end tests: a standard client (http.client), stats, RSS, timing.

The tests talk to the host the way any HTTP/1.1 client would, with `http.client`
(and httpx where it reads better), streaming every body: nothing here holds a
whole request or response in memory. Byte patterns come from plugin_runtime.examples.pattern
and chunked framing from bench.load.client, so the tests, the bench and the demo plugin
agree on what goes over the wire.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.core.polling import WaitTimeout, wait_until  # noqa: F401 (the e2e tests import them from here)
from bench.load.client import LAST_CHUNK, chunk_frame
from bench.observe.samplers import Sampler, StatsClient, window_growth
from bench.runner.stack import Stack
from plugin_runtime.examples.pattern import PatternVerifier, pattern_chunks

KiB = 1024
MiB = 1024 * KiB
# How long a test waits for something that should happen (a handler cancelled, the
# plugin idle, a log line): it bounds only a failure, so it is generous enough
# that a busy machine never trips it.
DEADLINE_S = 30.0

# What a client may see when a transfer is cut: the typed exceptions of http.client.
ABORTED_TRANSFER = (http.client.IncompleteRead, http.client.HTTPException, ConnectionError)


def connect(stack: Stack, timeout: float = 30.0) -> tuple[http.client.HTTPConnection, str]:
    """A fresh keep-alive connection to the host and the plugin's path prefix."""
    parts = urlsplit(stack.plugin_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    return conn, parts.path.rstrip("/")


def raw_socket(stack: Stack, timeout: float = 10.0) -> socket.socket:
    """A plain TCP socket to the host, for byte-level misbehaviour (slow-loris, huge headers)."""
    parts = urlsplit(stack.host_url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def fetch_stats(stack: Stack) -> dict[str, Any]:
    client = StatsClient(stack.stats_url)
    try:
        return client.fetch()
    finally:
        client.close()


def plugin_idle(stack: Stack) -> dict[str, Any] | None:
    """The plugin's stats when no handler runs and the host has no stream open, else None."""
    stats = fetch_stats(stack)
    plugin, host = stats.get("plugin", {}), stats.get("host", {})
    if plugin.get("active_handlers") == 0 and host.get("active_streams") == 0:
        return plugin
    return None


def read_download(
    resp: http.client.HTTPResponse, verifier: PatternVerifier, read_size: int = 64 * KiB
) -> int:
    """Read a response body to its end, checking the pattern per read; bytes read.

    http.client's read(amt) returns b"" at a premature EOF of a Content-Length body
    (only read() without amt raises); a careful client checks what is left, as here.
    """
    total = 0
    while True:
        data = resp.read(read_size)
        if not data:
            if resp.length:  # bytes promised by Content-Length that never came
                raise http.client.IncompleteRead(b"", resp.length)
            return total
        verifier.update(memoryview(data))
        total += len(data)


@dataclass
class BodyPump:
    """Sends a request body on its own thread while the caller reads the response.

    http.client sends the whole body before reading the response; full duplex and
    early responses need the two directions apart, which is what this does.
    """

    conn: http.client.HTTPConnection
    pieces: Iterable[bytes | memoryview]
    chunked: bool
    sent: int = 0
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> BodyPump:
        threading.Thread(target=self._run, name="body-pump", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        sock = self.conn.sock
        assert sock is not None, "endheaders() first"
        try:
            for piece in self.pieces:
                if self._stop.is_set():
                    return
                sock.sendall(b"".join(chunk_frame(piece)) if self.chunked else piece)
                self.sent += len(piece)
            if self.chunked:
                sock.sendall(LAST_CHUNK)
        except OSError as exc:  # the server answered early and closed, or we cut it
            self.error = exc
        finally:
            self.done.set()


def start_upload(
    conn: http.client.HTTPConnection,
    path: str,
    size: int,
    chunk: int = 64 * KiB,
    declare_length: bool = False,
    headers: dict[str, str] | None = None,
) -> BodyPump:
    """Send the request head now and pump `size` pattern bytes from a thread."""
    conn.putrequest("POST", path)
    if declare_length:
        conn.putheader("Content-Length", str(size))
    else:
        conn.putheader("Transfer-Encoding", "chunked")
    for key, value in (headers or {}).items():
        conn.putheader(key, value)
    conn.endheaders()
    return BodyPump(conn, pattern_chunks(size, chunk), chunked=not declare_length).start()


@dataclass
class RssGrowth:
    """Peak RSS growth of host and plugin over a window (filled in on exit)."""

    host: float = 0.0
    plugin: float = 0.0
    samples: int = 0


@contextlib.contextmanager
def rss_growth(stack: Stack) -> Iterator[RssGrowth]:
    """Sample host and plugin RSS with psutil at 20 Hz around the body of the `with`."""
    result = RssGrowth()
    with Sampler(
        processes={"host": stack.host.pid, "plugin": stack.plugin.pid},
        interval_s=0.05,
        include_loadgen=False,
    ) as sampler:
        window = sampler.mark("transfer")
        yield result
        sampler.close(window)
    for name in ("host", "plugin"):
        growth = window_growth(sampler.timeline, name, "rss_bytes", window)
        assert growth is not None, f"no RSS samples of {name}: {sampler.timeline.errors}"
        setattr(result, name, growth[0])
        result.samples = max(result.samples, growth[2])


def assert_echo_is_full_duplex(stack: Stack, pieces: int) -> None:
    """POST chunked pieces to /echo; each must come back before the next is sent.

    A half-duplex bridge (one that reads the whole request before answering)
    times out here instead of echoing.
    """
    conn, prefix = connect(stack, timeout=10.0)
    conn.putrequest("POST", f"{prefix}/echo")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    sock = conn.sock
    assert sock is not None
    resp: http.client.HTTPResponse | None = None
    for i in range(pieces):
        piece = os.urandom(16 * 1024 + i)
        sock.sendall(b"".join(chunk_frame(piece)))
        if resp is None:
            resp = conn.getresponse()  # headers arrive with the first echoed chunk
            assert resp.status == 200
        assert resp.read(len(piece)) == piece, f"piece {i} not echoed back before the next"
    sock.sendall(LAST_CHUNK)
    assert resp is not None
    assert resp.read() == b""
    conn.close()


def upload_zeros(stack: Stack, size: int) -> tuple[int, bytes]:
    """POST `size` zero bytes to /upload, chunked, in 1 MiB pieces from a generator
    (cheap for the client, so the plugin is the slow side); (status, answer)."""
    piece = bytes(1 * MiB)
    conn, prefix = connect(stack)
    body = (piece for _ in range(size // len(piece)))
    conn.request("POST", f"{prefix}/upload", body=body, encode_chunked=True)
    resp = conn.getresponse()
    answer = resp.read()
    conn.close()
    return resp.status, answer
