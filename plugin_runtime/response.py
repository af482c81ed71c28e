"""ResponseWriter: the plugin side of the response stream, as one small state machine.

    open (headers mutable) --write_header / first write, flush, close--> committed
    committed --close()--> closed (body_complete sent; nothing may follow)

Messages go out through `send`, which only returns when the stream can take
more (grpc.aio's `context.write` awaits HTTP/2 flow control), so a slow client
slows the handler's `await write()` down instead of growing a buffer here.

Batching: the writer keeps at most one held body (`_held`, the next message's
bytes; the caller's own `bytes` object when a write is exactly one chunk) plus a
partial chunk (`_partial`, < max_chunk_bytes) before sending, so small writes
leave as full-size messages and a following flush()/close() rides on the last
data message instead of costing a message of its own. The protobuf message is
only built inside a send slot of the plugin-wide `ResponseBufferBudget`, so
responses waiting for their turn hold no message copies. Like Go's buffered
http.ResponseWriter, bytes reach the client on the next full chunk, flush() or
close(): call flush() when the client must see them now (SSE, echo).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.headers import Headers
from plugin_runtime.wire import ResponseMessage

SendMessage = Callable[[ResponseMessage], Awaitable[None]]

# Upstream Mattermost uses 64 KiB; grpc.aio's cost is per message (~100-170 us),
# so 1 MiB messages are what reach >= 800 MB/s at < 1 CPU s/GiB
# (docs/performance.md). The CLI's --max-chunk-bytes overrides it.
DEFAULT_MAX_CHUNK_BYTES = 1024 * 1024
# Plugin-wide memory for response messages in flight, shared by the active handlers.
DEFAULT_RESPONSE_BUFFER_BYTES = 16 * 1024 * 1024
# A message being sent exists about this many times over: the protobuf message,
# its serialized bytes and C-core's copy until HTTP/2 flow control lets it go
# (docs/performance.md).
COPIES_IN_FLIGHT = 3
_INT32_MAX = 2**31 - 1


class ResponseBufferBudget:
    """Caps how many responses send at once, so message memory does not grow with them.

    Every message is full size (max_chunk_bytes: grpc.aio's cost is per message),
    and a response holds one of budget / (COPIES_IN_FLIGHT x max_chunk_bytes)
    send slots (at least one) from building its message until grpc.aio accepted
    it. Responses beyond that wait for a slot in FIFO order, holding only the
    bytes the handler already wrote (a reference, no copy), so their handlers
    wait in `await write()` and the stream's backpressure does the rest.
    """

    def __init__(
        self,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        budget_bytes: int = DEFAULT_RESPONSE_BUFFER_BYTES,
    ) -> None:
        self.max_chunk_bytes = max_chunk_bytes
        self.budget_bytes = budget_bytes
        self.slots = max(1, budget_bytes // (COPIES_IN_FLIGHT * max_chunk_bytes))
        self._semaphore = asyncio.Semaphore(self.slots)
        self.waiting = 0  # responses waiting for a slot now

    @property
    def sending(self) -> int:
        """Slots in use now."""
        return self.slots - self._semaphore._value  # asyncio has no public reading

    # acquire()/release() rather than an async context manager: this runs for every
    # message, and the generator behind @asynccontextmanager cost ~2 % of a small
    # request's CPU (docs/performance.md).
    async def acquire(self) -> None:
        """Wait for a send slot (FIFO)."""
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1

    def release(self) -> None:
        self._semaphore.release()


class ResponseClosedError(RuntimeError):
    """write()/flush() after close(): body_complete was already sent (proto invariant 5)."""


class ResponseWriter:
    """Status, headers and a streamed body for one HTTP response."""

    def __init__(
        self,
        send: SendMessage,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        budget: ResponseBufferBudget | None = None,
    ) -> None:
        if max_chunk_bytes < 1:
            raise ValueError(f"max_chunk_bytes must be >= 1, got {max_chunk_bytes}")
        self.headers = Headers()
        self.max_chunk_bytes = max_chunk_bytes
        # Without a shared budget (tests, the uvicorn adapter) every message may be full size.
        self._budget = budget
        self.bytes_written = 0
        self._send_message = send
        self._status = 200
        self._committed = False  # status and headers are final
        self._init_sent = False
        self._closed = False
        self._held: bytes | None = None  # the next message's body, not yet a message
        self._partial = bytearray()
        self._raw = False  # send_raw() took the stream over

    @property
    def committed(self) -> bool:
        """Status and headers are final (write_header() or the first write/flush/close)."""
        return self._committed

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def status(self) -> int:
        return self._status

    @property
    def raw(self) -> bool:
        """send_raw() took the stream over: messages go exactly as the handler gave them."""
        return self._raw

    def write_header(self, status: int, *, validate: bool = True) -> None:
        """Set the status and lock the headers; response-init leaves with the first message.

        validate=False skips the 100..999 check so a test plugin can send an invalid
        status on purpose: the host is the one that must reject it (proto invariant 2).
        """
        if self._committed:
            raise RuntimeError(
                f"write_header({status}) after the response was committed with status "
                f"{self._status}: call it once, before the first write"
            )
        if not isinstance(status, int) or isinstance(status, bool):
            raise TypeError(f"status must be int, got {type(status).__name__}")
        if validate and not 100 <= status <= 999:
            raise ValueError(f"invalid HTTP status {status}: must be 100..999")
        if not -_INT32_MAX - 1 <= status <= _INT32_MAX:
            raise ValueError(f"status {status} does not fit the wire's int32 status_code")
        self._status = status
        self._commit()

    def _commit(self) -> None:
        # Invariant 3: headers are mutable until response-init, locked afterwards.
        # Invariant 1: status defaults to 200 when the first write commits.
        if not self._committed:
            self._committed = True
            self.headers.lock(f"response already committed with status {self._status}")

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise ResponseClosedError(f"{operation}() after close(): the response is complete")

    async def _send(
        self, body: bytes | None, *, flush: bool = False, complete: bool = False
    ) -> None:
        """Build one message and send it, inside a send slot when there is a budget."""
        budget = self._budget
        if budget is None:
            await self._send_message(self._message(body, flush, complete))
            return
        await budget.acquire()
        try:
            await self._send_message(self._message(body, flush, complete))
        finally:
            budget.release()

    def _message(self, body: bytes | None, flush: bool, complete: bool) -> ResponseMessage:
        message = ResponseMessage(body_chunk=body or b"", flush=flush, body_complete=complete)
        # Invariant 1: exactly one response-init, on the first message of the stream.
        if not self._init_sent:
            self._init_sent = True
            message.init = pb.ServeHTTPResponseInit(status_code=self._status)
            self.headers.add_to_proto(message.init.headers)
        return message

    async def _hold(self, payload: bytes | memoryview) -> None:
        """Make `payload` the held body, sending the previously held one first."""
        if self._held is not None:
            held, self._held = self._held, None
            await self._send(held)
        self._held = payload if type(payload) is bytes else bytes(payload)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append `data` to the body; waits while the stream is back-pressured."""
        self._check_open("write")
        if isinstance(data, str):
            raise TypeError("write() takes bytes, not str: encode it first")
        view = memoryview(data)
        if view.itemsize != 1 or view.ndim != 1:
            view = view.cast("B")
        self._commit()
        size = len(view)
        self.bytes_written += size
        limit = self._chunk_limit()
        if self._partial:
            # max(0, ...): the limit may have shrunk below what is buffered already.
            room = max(0, limit - len(self._partial))
            self._partial += view[:room]
            view = view[room:]
            if len(self._partial) < limit:
                return
            payload = bytes(self._partial)
            self._partial.clear()
            await self._hold(payload)
        if type(data) is bytes and size == limit and len(view) == size:
            await self._hold(data)  # exactly one chunk of immutable bytes: no copy here
            return
        # Chunks are at most max_chunk_bytes (the host accepts any size up to the gRPC limit).
        while len(view) >= limit:
            await self._hold(view[:limit])
            view = view[limit:]
        if view:
            self._partial += view

    def _chunk_limit(self) -> int:
        return self.max_chunk_bytes

    async def _release(self) -> bytes | None:
        """The body that carries flush/body_complete: the held one, or None (empty)."""
        self._commit()
        if self._partial:
            payload = bytes(self._partial)
            self._partial.clear()
            await self._hold(payload)
        body, self._held = self._held, None
        return body

    async def flush(self) -> None:
        """Send everything written so far and ask the host to flush it to the client."""
        self._check_open("flush")
        body = await self._release()
        # Invariant 4: flush is a best-effort flag on the message carrying the last bytes.
        await self._send(body, flush=True)

    async def close(self) -> None:
        """Send the rest of the body and body_complete. A second close() does nothing."""
        if self._closed:
            return
        body = await self._release()
        # Invariant 5: body_complete ends the response; _check_open refuses anything after.
        self._closed = True
        await self._send(body, complete=True)

    async def send_raw(self, message: pb.ServeHTTPResponse) -> None:
        """Send `message` to the host exactly as given, past every check of this writer.

        For fault injection only (testing a host): the wire contract is then the
        caller's to keep or to break. The first call takes the stream over: the
        writer counts as closed, so write()/flush() refuse and the runtime sends
        nothing after the handler returns (no implicit init, no body_complete).
        Only on a writer nothing was written through yet.
        """
        if not self._raw:
            if self._committed:
                raise RuntimeError("send_raw() after the response was started through the SDK")
            self._raw = True
            self._commit()
            self._init_sent = self._closed = True
        await self._send_message(ResponseMessage.from_proto(message))

    async def write_from(self, chunks: AsyncIterable[bytes] | Iterable[bytes]) -> None:
        """write() every chunk of an (async) iterable, in order."""
        if isinstance(chunks, AsyncIterable):
            async for chunk in chunks:
                await self.write(chunk)
        else:
            for chunk in chunks:
                await self.write(chunk)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "committed" if self._committed else "open"
        return f"<ResponseWriter {state} status={self._status} bytes={self.bytes_written}>"
