"""The incoming HTTP request: metadata from response-init, body read on demand.

The body is pulled from the stream one message at a time, only when the handler
asks for it, so gRPC's flow-control window (not this process) bounds what is in
flight: a handler that does not read back-pressures the host's upload pump, and
one that answers early simply never reads (proto invariant 8).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.headers import Headers
from plugin_runtime.wire import RequestMessage

# Returns the next request message, or None when the host ended its side of the stream.
ReceiveMessage = Callable[[], Awaitable[RequestMessage | None]]


class BodyTruncatedError(ConnectionError):
    """The stream ended before body_complete: the body is incomplete, never treat it as whole."""


class ProtocolError(RuntimeError):
    """The host broke the ServeHTTP stream contract (e.g. a second request init)."""


class _Body:
    """`async for chunk in request.body` yields the body chunks as they arrive."""

    __slots__ = ("_request",)

    def __init__(self, request: Request) -> None:
        self._request = request

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self._request._next_chunk():
            yield chunk


class Request:
    """One HTTP request as seen by the plugin (the /plugins/{id} prefix already stripped)."""

    def __init__(self, init: pb.ServeHTTPRequestInit, receive: ReceiveMessage) -> None:
        self.method: str = init.method
        self.url: str = init.url
        parts = urlsplit(init.url)
        self.path: str = parts.path or "/"
        self.query: dict[str, list[str]] = parse_qs(parts.query, keep_blank_values=True)
        # Converted on first use: a handler that reads no header pays nothing for them.
        self._wire_headers = init.headers
        self._headers: Headers | None = None
        self.plugin_context: pb.PluginContext = init.plugin_context
        # None when the length is unknown (chunked upload; -1 on the wire).
        self.content_length: int | None = init.content_length if init.content_length >= 0 else None
        self.remote_addr: str = init.remote_addr
        self.host: str = init.host
        self.proto: str = init.proto
        self.request_uri: str = init.request_uri
        self._receive = receive
        self._complete = False  # body_complete seen: EOF
        self._leftover = memoryview(b"")  # part of a chunk not yet returned by read(n)
        self._pending_first: bytes = b""  # body riding on the first message

    @classmethod
    def from_first_message(cls, first: RequestMessage, receive: ReceiveMessage) -> Request:
        """The request a stream's first message opens (its init, and any body riding
        on it); ProtocolError when it has no init."""
        if first.init is None:
            raise ProtocolError("first ServeHTTPRequest message has no init")
        request = cls(first.init, receive)
        request._pending_first = first.body_chunk
        request._complete = first.body_complete
        return request

    @property
    def headers(self) -> Headers:
        """The request headers (case-insensitive, multi-value, read-only)."""
        if self._headers is None:
            headers = Headers.from_proto(self._wire_headers)
            headers.lock("request headers are read-only")
            self._headers = headers
        return self._headers

    @property
    def body(self) -> _Body:
        """Async iterable of body chunks (bytes), read from the stream on demand."""
        return _Body(self)

    async def _next_chunk(self) -> bytes:
        """The next non-empty chunk, or b"" at the end of the body."""
        if self._leftover:
            chunk, self._leftover = bytes(self._leftover), memoryview(b"")
            return chunk
        if self._pending_first:
            chunk, self._pending_first = self._pending_first, b""
            return chunk
        while not self._complete:
            message = await self._receive()
            if message is None:
                raise BodyTruncatedError(
                    "request stream ended before body_complete: the body is truncated"
                )
            if message.init is not None:
                raise ProtocolError("request init received twice on one stream")
            self._complete = message.body_complete
            if message.body_chunk:
                return message.body_chunk
        return b""

    async def read(self, n: int) -> bytes:
        """Up to `n` bytes: exactly `n` unless the body ends first; b"" at the end."""
        if n < 0:
            raise ValueError("read(n) needs n >= 0; iterate request.body to stream it all")
        parts: list[memoryview] = []
        wanted = n
        while wanted > 0:
            if not self._leftover:
                chunk = await self._next_chunk()
                if not chunk:
                    break
                self._leftover = memoryview(chunk)
            piece, self._leftover = self._leftover[:wanted], self._leftover[wanted:]
            parts.append(piece)
            wanted -= len(piece)
        return b"".join(parts)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"
