"""A small streaming HTTP/1.1 client on raw sockets, for measuring, not for general use.

Why not httpx: at GB/s the client must not be what is measured. This one reads
each response with one system call per read (`read1`), checks the demo's byte
pattern (byte i = i % 256) with a memcmp per read, and streams uploads from a
generator of memoryview slices on their own thread (full duplex), so it never
holds a body and costs little CPU per byte. Responses are parsed by the
standard library's `http.client.HTTPResponse` (status line, headers,
Content-Length or chunked bodies, trailers, what counts as complete); this
module adds what it lacks: every informational 1xx answer is skipped, not only
100 Continue. h11 parses as correctly but copies each body byte twice more,
which doubled the client's CPU per GiB (docs/decisions.md).
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from plugin_runtime.examples.pattern import PatternMismatch

READ_BUFFER_BYTES = 256 * 1024
_SWITCHING_PROTOCOLS = 101  # a 1xx that is final: the connection is no longer HTTP


class TransferError(RuntimeError):
    """A response that was wrong: bad status, wrong bytes, truncated, unparsable."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body_bytes: int = 0
    body: bytes = b""  # only kept when asked (small JSON answers)
    complete: bool = False  # the body ended where HTTP framing said it would
    ttfb_s: float = 0.0  # request start -> head of the final (non-1xx) response
    seconds: float = 0.0  # request start -> body end

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


BodyCallback = Callable[[memoryview], None]


# The chunked transfer coding (RFC 9112 7.1): each chunk is its size in hex, CRLF,
# the bytes, CRLF; a zero-size chunk and an empty trailer section end the body.
LAST_CHUNK = b"0\r\n\r\n"


def chunk_frame(piece: bytes | memoryview) -> list[bytes | memoryview]:
    """One chunk of the chunked coding: [size line, `piece` (not copied), CRLF].
    Nothing for an empty piece, which would end the body."""
    if not len(piece):
        return []
    return [b"%x\r\n" % len(piece), piece, b"\r\n"]


def chunked_frames(pieces: Iterable[bytes | memoryview]) -> Iterator[bytes | memoryview]:
    """A whole body in the chunked coding, ending with LAST_CHUNK: what follows a head
    that says `Transfer-Encoding: chunked`, in either direction."""
    for piece in pieces:
        yield from chunk_frame(piece)
    yield LAST_CHUNK


class _OneReader:
    """Hands every `HTTPResponse` of one request the same buffered reader, so bytes
    read ahead past an informational answer are still there for the final one."""

    def __init__(self, reader: io.BufferedReader) -> None:
        self._reader = reader

    def makefile(self, mode: str, *args: object) -> io.BufferedReader:
        return self._reader


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
        self._reader: io.BufferedReader | None = None  # the current response's

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if self.rcvbuf:
                # Before connect, so the advertised TCP window stays small (slow reader).
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.settimeout(self.timeout)
            sock.connect((self.host, self.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        return self._sock

    def close(self) -> None:
        """Close the socket (mid-body this is a client abort)."""
        if self._reader is not None:
            self._reader.close()  # the socket's file descriptor closes only after its reader
            self._reader = None
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

        on_body gets each piece of the response body as it is read (copy it if you
        keep it). stop_after: abort (close the connection) once that many body bytes
        were read. early_answer_ok: the server may answer without reading the whole
        body, so a failed upload is no error. Informational answers (100 Continue,
        103 Early Hints) are skipped: the response is the final one.
        """
        sock = self._connect()
        started = time.perf_counter()
        lines = [f"{method} {self.base_path}{path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if body is not None:
            if content_length is None:
                lines.append("Transfer-Encoding: chunked")
                body = chunked_frames(body)
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
                target=self._send_body, args=(sock, body, send_error), daemon=True
            )
            sender.start()
        try:
            response, reusable = self._read_response(
                method, sock, started, on_body, keep_body, stop_after
            )
        except PatternMismatch as exc:
            self.close()  # also makes a blocked sender fail at once
            raise TransferError(str(exc)) from exc
        except BaseException:
            self.close()
            raise
        finally:
            if sender is not None:
                sender.join(timeout=2.0)
                if sender.is_alive():  # answered early and the server stopped reading
                    self.close()
                    sender.join()
        if send_error and not early_answer_ok and response.status < 300:
            raise TransferError(f"sending the request body failed: {send_error[0]}")
        if not reusable or send_error:
            self.close()
        return response

    @staticmethod
    def _send_body(
        sock: socket.socket, body: Iterable[bytes | memoryview], errors: list[BaseException]
    ) -> None:
        try:
            for piece in body:
                sock.sendall(piece)
        except OSError as exc:  # the server answered early and closed, or we aborted
            errors.append(exc)

    def _read_response(
        self,
        method: str,
        sock: socket.socket,
        started: float,
        on_body: BodyCallback | None,
        keep_body: bool,
        stop_after: int | None,
    ) -> tuple[Response, bool]:
        """The final response, its body delivered as it arrives; and whether the
        connection can carry the next request."""
        self._reader = sock.makefile("rb")
        source = _OneReader(self._reader)
        try:
            while True:
                parsed = http.client.HTTPResponse(source, method=method)  # type: ignore[arg-type]
                parsed.begin()
                if not 100 <= parsed.status < 200 or parsed.status == _SWITCHING_PROTOCOLS:
                    break
                parsed.fp = None  # interim answer: its reader is the final one's
        except http.client.HTTPException as exc:
            raise TransferError(f"unparsable response head: {exc!r}") from None
        response = Response(
            status=parsed.status, headers=parsed.getheaders(), ttfb_s=time.perf_counter() - started
        )
        kept = bytearray() if keep_body else None
        stopped = truncated = False
        while True:
            try:
                data = parsed.read1(READ_BUFFER_BYTES)
            except http.client.HTTPException:  # closed mid-chunk, or a broken chunk line
                truncated = True
                break
            if not data:
                break
            response.body_bytes += len(data)
            view = memoryview(data)
            if on_body is not None:
                on_body(view)
            if kept is not None:
                kept.extend(view)
            if stop_after is not None and response.body_bytes >= stop_after:
                stopped = True
                parsed.close()
                self.close()  # the abort reaches the server now, not after the bookkeeping
                break
        # Complete: chunked up to its last-chunk, or exactly Content-Length bytes (0 for
        # statuses without a body). A body that ends with the connection (no length,
        # not chunked) cannot be told from a truncated one.
        response.complete = not (stopped or truncated) and (parsed.chunked or parsed.length == 0)
        response.seconds = time.perf_counter() - started
        if kept is not None:
            response.body = bytes(kept)
        reusable = response.complete and not parsed.will_close
        parsed.close()  # closes the reader; the socket stays open for the next request
        self._reader = None
        return response, reusable
