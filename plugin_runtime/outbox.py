"""The outbox of one response: when each of its messages leaves for the host.

The ResponseWriter decides what the response is (status, headers, body bytes,
flush, the end); the outbox decides when each message goes out:

- Batching. Small writes gather in a partial chunk until it is max_chunk_bytes,
  since grpc.aio's cost is per message. At most that partial chunk and one whole
  body (the next message's; the caller's own `bytes` when a write is exactly one
  chunk) wait here, so a following flush() or close() rides on the last data
  message instead of costing a message of its own.
- Send slots. A message is built and sent inside a slot of the plugin-wide
  ResponseBufferBudget, so responses waiting for their turn hold no message copies.
- The last message (`hold_last`, as the runtime's ServeHTTP uses it). The message
  carrying body_complete stays here and the RPC returns it, so grpc.aio sends it
  in one batch with the OK status (plugin_runtime/servehttp.py says why). It waits
  one event-loop turn: a handler still running then (work after close(), e.g. an
  ASGI app's background tasks) does not keep the client waiting, as its init and
  body go out at once with flush and body_complete alone stays for the status.
  Raw messages (send_raw, fault injection) stay one at a time, so the last one
  ends the stream exactly as sent.

Every send awaits the transport (`context.write`, which returns once HTTP/2 flow
control took the message), so a slow client slows the handler's `await write()`
down instead of growing a buffer here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.headers import Headers
from plugin_runtime.wire import ResponseMessage

SendMessage = Callable[[ResponseMessage], Awaitable[None]]

# Upstream Mattermost uses 64 KiB; grpc.aio's cost is per message (~100-170 us),
# so 1 MiB messages are what reach >= 800 MB/s at < 1 CPU s/GiB
# (docs/decisions.md). The CLI's --max-chunk-bytes overrides it.
DEFAULT_MAX_CHUNK_BYTES = 1024 * 1024
# Plugin-wide memory for response messages in flight, shared by the active handlers.
DEFAULT_RESPONSE_BUFFER_BYTES = 16 * 1024 * 1024
# A message being sent exists about this many times over: the protobuf message,
# its serialized bytes and C-core's copy until HTTP/2 flow control lets it go
# (docs/decisions.md).
COPIES_IN_FLIGHT = 3


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
        self.sending = 0  # slots in use now
        self.waiting = 0  # responses waiting for a slot now

    # acquire()/release() rather than an async context manager: this runs for every
    # message, and the generator behind @asynccontextmanager cost ~2 % of a small
    # request's CPU (docs/decisions.md).
    async def acquire(self) -> None:
        """Wait for a send slot (FIFO)."""
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.sending += 1

    def release(self) -> None:
        self.sending -= 1
        self._semaphore.release()


class Outbox:
    """The messages of one response on their way out, through `send`."""

    def __init__(
        self,
        send: SendMessage,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        budget: ResponseBufferBudget | None = None,
        *,
        hold_last: bool = False,
    ) -> None:
        if max_chunk_bytes < 1:
            raise ValueError(f"max_chunk_bytes must be >= 1, got {max_chunk_bytes}")
        self.max_chunk_bytes = max_chunk_bytes
        self._send = send
        # Without a shared budget (tests, the uvicorn adapter) every message may be full size.
        self._budget = budget
        self._hold_last = hold_last
        self._init: pb.ServeHTTPResponseInit | None = None  # rides on the next message
        self._next_body: bytes | None = None  # the next message's body, not yet a message
        self._partial = bytearray()  # < max_chunk_bytes written after it
        self._last: ResponseMessage | None = None  # hold_last: the message the RPC returns
        self._early_push: asyncio.Task[None] | None = None
        self._ended = False  # the handler is done: the last message is the RPC's now

    def start(self, status: int, headers: Headers) -> None:
        """Status and headers are final: response-init goes out on the next message."""
        init = pb.ServeHTTPResponseInit(status_code=status)
        headers.add_to_proto(init.headers)
        self._init = init

    async def write(self, data: bytes | memoryview) -> None:
        """Append body bytes (a 1-D byte view or bytes); sends each full chunk but the
        newest, which waits for the next chunk, flush() or close()."""
        limit = self.max_chunk_bytes
        if not self._partial and len(data) == limit and type(data) is bytes:
            await self._hold_body(data)  # exactly one chunk of immutable bytes: no copy
            return
        view = memoryview(data)
        if self._partial:
            room = limit - len(self._partial)
            self._partial += view[:room]
            view = view[room:]
            if len(self._partial) < limit:
                return
            payload = bytes(self._partial)
            self._partial.clear()
            await self._hold_body(payload)
        # Messages are at most max_chunk_bytes (the host accepts any size up to the gRPC limit).
        while len(view) >= limit:
            await self._hold_body(view[:limit])
            view = view[limit:]
        if view:
            self._partial += view

    async def flush(self) -> None:
        """Send everything written so far, with the flush flag on the last message."""
        # Invariant 4: flush is a best-effort flag on the message carrying the last bytes.
        await self._send_body(await self._take_body(), flush=True)

    async def close(self) -> None:
        """Send the rest of the body with body_complete (kept back under hold_last)."""
        await self._send_body(await self._take_body(), complete=True)

    async def send_raw(self, message: ResponseMessage) -> None:
        """Send `message` as it is: no init, batching or slot; under hold_last the
        previous raw message goes now and this one stays, the last one for the RPC."""
        if not self._hold_last:
            await self._send(message)
            return
        if self._last is not None:
            previous, self._last = self._last, None
            await self._send(previous)
        self._last = message

    async def last_message(self) -> ResponseMessage:
        """The handler returned and the response is complete: the message the RPC
        returns, so that it leaves with the OK status (hold_last)."""
        self._ended = True
        if self._early_push is not None:
            await self._early_push  # no two sends at once; raises if the stream died
        last, self._last = self._last, None
        return last if last is not None else ResponseMessage(body_complete=True)

    async def send_last(self) -> None:
        """The handler failed: send the message kept back now, before the failure
        status ends the stream, as it would have gone without hold_last."""
        self._ended = True
        if self._early_push is not None:
            await self._early_push
        if self._last is not None:
            last, self._last = self._last, None
            await self._send(last)

    async def discard(self) -> None:
        """Stop an early push still in flight (the handler failed or was cancelled)."""
        push, self._early_push = self._early_push, None
        if push is None:
            return
        if not push.done():
            push.cancel()
            await asyncio.wait([push])  # a cancellation of this task still propagates
        if not push.cancelled():
            push.exception()  # seen: no "exception was never retrieved" warning

    async def _take_body(self) -> bytes | None:
        """The body that carries flush/body_complete: everything not sent yet, or None."""
        if self._partial:
            payload = bytes(self._partial)
            self._partial.clear()
            await self._hold_body(payload)
        body, self._next_body = self._next_body, None
        return body

    async def _hold_body(self, payload: bytes | memoryview) -> None:
        """Make `payload` the next message's body, sending the one waiting before it."""
        if self._next_body is not None:
            body, self._next_body = self._next_body, None
            await self._send_body(body)
        self._next_body = payload if type(payload) is bytes else bytes(payload)

    async def _send_body(
        self, body: bytes | None, *, flush: bool = False, complete: bool = False
    ) -> None:
        """Build one message and send it (or keep it, the last under hold_last),
        inside a send slot when there is a budget."""
        budget = self._budget
        if budget is not None:
            await budget.acquire()
        try:
            message = ResponseMessage(body_chunk=body or b"", flush=flush, body_complete=complete)
            if self._init is not None:
                # Invariant 1: exactly one response-init, on the first message of the stream.
                message.init, self._init = self._init, None
            if complete and self._hold_last:
                self._last = message
                asyncio.get_running_loop().call_soon(self._push_last_if_still_running)
            else:
                await self._send(message)
        finally:
            if budget is not None:
                budget.release()

    def _push_last_if_still_running(self) -> None:
        """One loop turn after close(): a handler that has not returned does not keep
        the client waiting for the body it completed."""
        last = self._last
        if self._ended or last is None or not last.body_complete:
            return
        # body_complete alone stays for the status; init and body bytes go now, flushed.
        self._last = ResponseMessage(body_complete=True)
        if last.init is not None or last.body_chunk:
            last.body_complete = False
            last.flush = True
            self._early_push = asyncio.get_running_loop().create_task(self._send(last))
