"""ResponseWriter: the plugin side of the response stream, as one small state machine.

    open (headers mutable) --write_header / first write, flush, close--> committed
    committed --close()--> closed (body_complete sent; nothing may follow)

The writer decides what the response is; its Outbox (plugin_runtime/outbox.py)
decides when each message leaves: small writes are batched into full-size
messages and a flush()/close() rides on the last data message. Like Go's
buffered http.ResponseWriter, bytes reach the client on the next full chunk,
flush() or close(): call flush() when the client must see them now (SSE, echo).
Sends wait while the stream is back-pressured, so a slow client slows the
handler's `await write()` down instead of growing a buffer here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.files import SENDFILE_HEADER, FilesRoot, content_type_of, stream_file
from plugin_runtime.headers import Headers
from plugin_runtime.outbox import DEFAULT_MAX_CHUNK_BYTES, Outbox, ResponseBufferBudget, SendMessage
from plugin_runtime.wire import ResponseMessage

_INT32_MAX = 2**31 - 1


class ResponseClosedError(RuntimeError):
    """write()/flush() after close(): body_complete was already sent (proto invariant 5)."""


class ResponseWriter:
    """Status, headers and a streamed body for one HTTP response."""

    def __init__(
        self,
        send: SendMessage | Outbox,
        max_chunk_bytes: int | None = None,
        budget: ResponseBufferBudget | None = None,
        *,
        files_root: FilesRoot | None = None,
        offload: bool = False,
    ) -> None:
        """`send` is where the messages go: a coroutine function that sends one, or
        an Outbox the caller keeps (the runtime's, which holds the last message
        back). max_chunk_bytes (default 1 MiB) and budget configure the outbox built
        around a function; an Outbox has its own. files_root is where send_file()
        names files; offload says the host serves X-Sendfile answers itself."""
        if isinstance(send, Outbox):
            if max_chunk_bytes is not None or budget is not None:
                raise ValueError("max_chunk_bytes and budget belong to the Outbox given")
            self._outbox = send
        else:
            chunk = DEFAULT_MAX_CHUNK_BYTES if max_chunk_bytes is None else max_chunk_bytes
            self._outbox = Outbox(send, chunk, budget)
        self.headers = Headers()
        self.max_chunk_bytes = self._outbox.max_chunk_bytes
        self.bytes_written = 0
        self._status = 200
        self._committed = False  # status and headers are final
        self._closed = False
        self._raw = False  # send_raw() took the stream over
        self._files_root = files_root
        self._offload = offload and files_root is not None

    @property
    def committed(self) -> bool:
        """Status and headers are final (write_header() or the first write/flush/close)."""
        return self._committed

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def files_root(self) -> FilesRoot | None:
        """The plugin's files root (--files-root), or None when it has none."""
        return self._files_root

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
            self._outbox.start(self._status, self.headers)

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise ResponseClosedError(f"{operation}() after close(): the response is complete")

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append `data` to the body; waits while the stream is back-pressured."""
        self._check_open("write")
        if type(data) is not bytes:
            if isinstance(data, str):
                raise TypeError("write() takes bytes, not str: encode it first")
            data = memoryview(data)
            if data.itemsize != 1 or data.ndim != 1:
                data = data.cast("B")
        self._commit()
        self.bytes_written += len(data)
        await self._outbox.write(data)

    async def flush(self) -> None:
        """Send everything written so far and ask the host to flush it to the client."""
        self._check_open("flush")
        self._commit()
        await self._outbox.flush()

    async def close(self) -> None:
        """Send the rest of the body and body_complete. A second close() does nothing."""
        if self._closed:
            return
        self._commit()
        # Invariant 5: body_complete ends the response; _check_open refuses anything after.
        self._closed = True
        await self._outbox.close()

    async def send_file(self, path: str | os.PathLike[str], *, status: int = 200) -> None:
        """Answer with the file `path` names and complete the response.

        `path` is relative to the files root, or absolute under it; anything else is
        a ValueError, before anything is sent (plugin_runtime/files.py: the rules).
        Content-Type is the handler's, or guessed from the name. When the host
        offered offload, the answer is status 200, the headers and `X-Sendfile:
        NAME` and no body: the host serves the file (ranges, validators, HEAD).
        Otherwise, or for a status other than 200, the plugin streams the file:
        FileNotFoundError / PermissionError before anything is sent when it cannot
        be opened, and a failed response when it shrinks while being sent.
        """
        root = self._files_root
        if root is None:
            raise RuntimeError(
                "send_file() needs a files root: start the runtime with --files-root DIR "
                "(env PLUGIN_FILES_ROOT)"
            )
        name = root.relative(path)
        if self._committed:
            raise RuntimeError(f"send_file({name!r}) after the response was committed")
        if not (self._offload and status == 200):
            await stream_file(self, await root.open(name), status=status)
            return
        if "Content-Type" not in self.headers:
            self.headers["Content-Type"] = content_type_of(name)
        self.headers[SENDFILE_HEADER] = name
        await self.close()

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
            self._raw = self._committed = self._closed = True
            self.headers.lock("send_raw() took the response over")
        await self._outbox.send_raw(ResponseMessage.from_proto(message))

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
