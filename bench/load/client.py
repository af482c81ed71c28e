"""A small streaming HTTP/1.1 client on raw sockets, for measuring, not for general use.

Why not httpx: at GB/s the client must not be what is measured. This one reads
with `readinto1` into one reused buffer, checks the demo's byte pattern
(byte i = i % 256) with a memcmp per read, and streams uploads from a generator
of memoryview slices, so it never holds a body and costs little CPU per byte.
It speaks just enough HTTP/1.1: Content-Length or chunked responses, keep-alive.
"""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

READ_BUFFER_BYTES = 256 * 1024
_PATTERN_PERIOD = 256
# Long enough that any read (or upload chunk up to 4 MiB) is a slice of it at any phase.
PATTERN = bytes(range(_PATTERN_PERIOD)) * ((4 * 1024 * 1024) // _PATTERN_PERIOD + 2)
_PATTERN_VIEW = memoryview(PATTERN)


class TransferError(RuntimeError):
    """A response that was wrong: bad status, wrong bytes, truncated, unparsable."""


def pattern_chunks(size: int, chunk: int) -> Iterator[memoryview]:
    """The demo pattern, `size` bytes in `chunk`-byte views; nothing is allocated per chunk."""
    if chunk > len(PATTERN) - _PATTERN_PERIOD:
        raise ValueError(f"chunk {chunk} larger than the pattern buffer")
    sent = 0
    while sent < size:
        n = min(chunk, size - sent)
        phase = sent % _PATTERN_PERIOD
        yield _PATTERN_VIEW[phase : phase + n]
        sent += n


@cache
def pattern_sha256(size: int) -> str:
    """sha256 of `size` pattern bytes (cached: computed once, outside timed regions)."""
    digest = hashlib.sha256()
    for piece in pattern_chunks(size, 1024 * 1024):
        digest.update(piece)
    return digest.hexdigest()


class PatternVerifier:
    """Checks incrementally that a body is byte i = i % 256, failing at the first bad byte."""

    def __init__(self) -> None:
        self.offset = 0

    def update(self, data: memoryview) -> None:
        n = len(data)
        phase = self.offset % _PATTERN_PERIOD
        if not PATTERN.startswith(data, phase):
            bad = next(i for i in range(n) if data[i] != (self.offset + i) % _PATTERN_PERIOD)
            raise TransferError(
                f"body byte {self.offset + bad} is {data[bad]}, "
                f"expected {(self.offset + bad) % _PATTERN_PERIOD}"
            )
        self.offset += n


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body_bytes: int = 0
    body: bytes = b""  # only kept when asked (small JSON answers)
    complete: bool = False  # the body ended where HTTP framing said it would
    ttfb_s: float = 0.0  # request start -> status line
    seconds: float = 0.0  # request start -> body end

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


BodyCallback = Callable[[memoryview], None]


class Connection:
    """One keep-alive HTTP/1.1 connection to host:port."""

    def __init__(self, base_url: str, timeout: float = 60.0, rcvbuf: int | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http://host:port URLs are supported, not {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout
        self.rcvbuf = rcvbuf
        self._sock: socket.socket | None = None
        self._reader: io.BufferedReader | None = None
        self._buffer = bytearray(READ_BUFFER_BYTES)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> tuple[socket.socket, io.BufferedReader]:
        if self._sock is None or self._reader is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if self.rcvbuf:
                # Before connect, so the advertised TCP window stays small (slow reader).
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.settimeout(self.timeout)
            sock.connect((self.host, self.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self._reader = sock.makefile("rb", buffering=64 * 1024)
        return self._sock, self._reader

    def close(self) -> None:
        """Close the socket (mid-body this is a client abort)."""
        if self._reader is not None:
            self._reader.close()
        if self._sock is not None:
            # RST on close so an abort reaches the server at once.
            try:
                self._sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
            except OSError:
                pass
            self._sock.close()
        self._sock = None
        self._reader = None

    def request(
        self,
        method: str,
        path: str,
        body: Iterable[bytes | memoryview] | None = None,
        content_length: int | None = None,
        on_body: BodyCallback | None = None,
        keep_body: bool = False,
        stop_after: int | None = None,
        headers: dict[str, str] | None = None,
        early_answer_ok: bool = False,
    ) -> Response:
        """Send a request (body streamed from `body`) and read the response incrementally.

        on_body gets each piece of the response body as it is read (a view into a
        reused buffer: copy it if you keep it). stop_after: abort (close the
        connection) once that many body bytes were read. early_answer_ok: the server
        may answer without reading the whole body, so a failed upload is no error.
        """
        sock, reader = self._connect()
        started = time.perf_counter()
        lines = [f"{method} {self.base_path}{path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if body is not None:
            if content_length is None:
                lines.append("Transfer-Encoding: chunked")
            else:
                lines.append(f"Content-Length: {content_length}")
        elif method in ("POST", "PUT"):
            lines.append("Content-Length: 0")
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        sender: threading.Thread | None = None
        send_error: list[BaseException] = []
        if body is not None:
            # Full duplex: the body goes out on its own thread while the response is read.
            sender = threading.Thread(
                target=self._send_body,
                args=(sock, body, content_length is None, send_error),
                daemon=True,
            )
            sender.start()
        try:
            response = self._read_response(reader, started, on_body, keep_body, stop_after)
        except BaseException:
            self.close()  # also makes a blocked sender fail at once
            raise
        finally:
            if sender is not None:
                sender.join(timeout=2.0)
                if sender.is_alive():  # answered early and the server stopped reading
                    self.close()
                    sender.join()
        if send_error and not early_answer_ok and response.status < 300:
            raise TransferError(f"sending the request body failed: {send_error[0]}")
        if not response.complete or _wants_close(response):
            self.close()
        return response

    @staticmethod
    def _send_body(
        sock: socket.socket,
        body: Iterable[bytes | memoryview],
        chunked: bool,
        errors: list[BaseException],
    ) -> None:
        try:
            for piece in body:
                if chunked:
                    sock.sendall(f"{len(piece):x}\r\n".encode())
                    sock.sendall(piece)
                    sock.sendall(b"\r\n")
                else:
                    sock.sendall(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError as exc:  # the server answered early and closed, or we aborted
            errors.append(exc)

    def _read_response(
        self,
        reader: io.BufferedReader,
        started: float,
        on_body: BodyCallback | None,
        keep_body: bool,
        stop_after: int | None,
    ) -> Response:
        status_line = reader.readline(65536)
        if not status_line:
            raise TransferError("connection closed before the status line")
        ttfb = time.perf_counter() - started
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise TransferError(f"bad status line {status_line[:80]!r}")
        response = Response(status=int(parts[1]), headers=[], ttfb_s=ttfb)
        while True:
            line = reader.readline(65536)
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            response.headers.append((key.strip(), value.strip()))
        kept = bytearray() if keep_body else None
        view = memoryview(self._buffer)

        def deliver(data: memoryview) -> bool:
            response.body_bytes += len(data)
            if on_body is not None:
                on_body(data)
            if kept is not None:
                kept.extend(data)
            return stop_after is not None and response.body_bytes >= stop_after

        encoding = (response.header("Transfer-Encoding") or "").lower()
        length = response.header("Content-Length")
        stopped = False
        if "chunked" in encoding:
            stopped, response.complete = self._read_chunked(reader, view, deliver)
        elif length is not None:
            remaining = int(length)
            while remaining > 0 and not stopped:
                n = reader.readinto1(view[: min(remaining, len(view))])
                if n == 0:
                    break
                remaining -= n
                stopped = deliver(view[:n])
            response.complete = remaining == 0
        elif response.status in (204, 304) or 100 <= response.status < 200:
            response.complete = True
        else:  # body until close: never known to be complete
            while not stopped:
                n = reader.readinto1(view)
                if n == 0:
                    break
                stopped = deliver(view[:n])
        if stopped:
            self.close()
            response.complete = False
        response.seconds = time.perf_counter() - started
        if kept is not None:
            response.body = bytes(kept)
        return response

    @staticmethod
    def _read_chunked(
        reader: io.BufferedReader, view: memoryview, deliver: Callable[[memoryview], bool]
    ) -> tuple[bool, bool]:
        """Returns (stopped early, complete)."""
        while True:
            size_line = reader.readline(1024)
            if not size_line:
                return False, False  # closed mid-body: truncated
            try:
                remaining = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise TransferError(f"bad chunk size line {size_line[:40]!r}") from exc
            if remaining == 0:
                while reader.readline(65536) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return False, True
            while remaining > 0:
                n = reader.readinto1(view[: min(remaining, len(view))])
                if n == 0:
                    return False, False
                remaining -= n
                if deliver(view[:n]):
                    return True, False
            if reader.readline(16) not in (b"\r\n", b"\n"):
                return False, False


def _wants_close(response: Response) -> bool:
    return (response.header("Connection") or "").lower() == "close"
