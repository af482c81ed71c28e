"""PluginHooks.ServeHTTP: one stream per HTTP request, one handler call per stream.

The handler runs inside the RPC's own task, so:
- backpressure: the response's Outbox sends with `await context.write()`, which
  only returns once gRPC flow control accepts the message (no queue in between);
- cancellation: when the host cancels the stream (client went away), grpc.aio
  cancels that task and the handler's next await raises CancelledError;
- the request body is read with `context.read()` only when the handler asks.

The message that ends the response leaves with the RPC's status. grpc.aio sends
a streaming handler's messages and its final status in separate batches, each a
trip through C-core's completion queue, its poller thread and the event loop;
the message a handler *returns* leaves in one batch with the status. A small
response is one message (init + body + body_complete), so this saves one of its
four batches (docs/decisions.md). ServeHTTP is therefore served
request-streaming, response-unary (`add_serve_http`): the wire is the same (DATA
frames, then the trailers, on one HTTP/2 stream) and the host stays a
bidirectional-stream client. The Outbox keeps that last message (`hold_last`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

import grpc

from plugin_runtime._proto import hooks_http_pb2_grpc as hooks_grpc
from plugin_runtime.files import FilesRoot, offload_offered
from plugin_runtime.memory import IdleTrimmer
from plugin_runtime.outbox import (
    DEFAULT_RESPONSE_BUFFER_BYTES,
    Outbox,
    ResponseBufferBudget,
    SendMessage,
)
from plugin_runtime.request import BodyTruncatedError, ProtocolError, Request
from plugin_runtime.response import ResponseWriter
from plugin_runtime.stats import HandlerCounters
from plugin_runtime.wire import RequestMessage, ResponseMessage, decode_request

log = logging.getLogger("plugin_runtime")

Handler = Callable[[Request, ResponseWriter], Awaitable[None]]

SERVE_HTTP_SERVICE = "mattermost.pluginapi.v1.PluginHooks"
# How long a handler whose request body was cut short waits to learn whether the
# host cancelled the stream: the host cancels right after it stops sending, and
# the read that found the body truncated can see the end before the cancellation.
TRUNCATION_CANCEL_WAIT_S = 2.0


class StreamCancelledError(asyncio.CancelledError):
    """The response stream is gone (host cancelled it or the connection broke).

    A CancelledError, so a handler blocked in `await response.write()` unwinds
    exactly as when grpc.aio cancels its task (invariant 7).
    """


def add_serve_http(servicer: ServeHTTPServicer, server: grpc.aio.Server) -> None:
    """Register ServeHTTP request-streaming, response-unary (see the module doc);
    otherwise as the generated add_PluginHooksServicer_to_server does."""
    handlers = {
        "ServeHTTP": grpc.stream_unary_rpc_method_handler(
            servicer.ServeHTTP,
            request_deserializer=decode_request,
            response_serializer=ResponseMessage.encode,
        ),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVE_HTTP_SERVICE, handlers),)
    )
    server.add_registered_method_handlers(SERVE_HTTP_SERVICE, handlers)


class ServeHTTPServicer(hooks_grpc.PluginHooksServicer):
    """Runs the handler for each ServeHTTP stream and counts how handlers end."""

    def __init__(
        self,
        handler: Handler,
        counters: HandlerCounters,
        max_chunk_bytes: int,
        response_buffer_bytes: int = DEFAULT_RESPONSE_BUFFER_BYTES,
        files_root: FilesRoot | None = None,
    ) -> None:
        self._handler = handler
        self._files_root = files_root
        self._counters = counters
        self._max_chunk_bytes = max_chunk_bytes
        self.budget = ResponseBufferBudget(max_chunk_bytes, response_buffer_bytes)
        budget = self.budget
        counters.budget_figures = lambda: (
            budget.budget_bytes,
            budget.slots,
            budget.sending,
            budget.waiting,
        )
        self.idle_trimmer = IdleTrimmer(lambda: counters.active)

    async def ServeHTTP(
        self, request_iterator: object, context: grpc.aio.ServicerContext
    ) -> ResponseMessage:
        request = await _read_request(context)
        outbox = Outbox(_stream_sender(context), self._max_chunk_bytes, self.budget, hold_last=True)
        # Only the host sets X-Sendfile-Type (it drops a client's); only read it when
        # there is a files root, so other plugins never pay for the headers.
        root = self._files_root
        offload = root is not None and offload_offered(request.headers)
        response = ResponseWriter(outbox, files_root=root, offload=offload)
        counters = self._counters
        counters.active += 1
        counters.total += 1
        try:
            await self._handler(request, response)
            await response.close()  # a handler may return without close()
            return await outbox.last_message()
        except asyncio.CancelledError:
            # Invariant 7: the host cancelled the stream (client gone); let it unwind.
            counters.cancelled += 1
            log.info(
                "handler cancelled: %s %s (stream cancelled by host)", request.method, request.path
            )
            raise
        except Exception as exc:
            if await _cancelled_by_host(context, exc):
                counters.cancelled += 1
                log.info(
                    "handler ended by cancelled stream: %s %s: %r",
                    request.method,
                    request.path,
                    exc,
                )
                # No status can reach a cancelled stream; grpc.aio ends it quietly.
                raise StreamCancelledError("stream cancelled by host") from exc
            counters.failed += 1
            await _fail(context, request, response, outbox, exc)
        finally:
            await outbox.discard()
            counters.active -= 1
            self.idle_trimmer.handler_ended()


async def _read_request(context: grpc.aio.ServicerContext) -> Request:
    """The request the stream's first message opens; INVALID_ARGUMENT without an init."""
    first = await context.read()
    if first is grpc.aio.EOF:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "stream ended before init")

    async def receive() -> RequestMessage | None:
        try:
            message = await context.read()
        except Exception as exc:
            raise StreamCancelledError(f"request stream closed: {exc!r}") from exc
        return None if message is grpc.aio.EOF else message

    try:
        return Request.from_first_message(first, receive)
    except ProtocolError as exc:
        log.error("bad ServeHTTP stream from host: %s", exc)
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))


def _stream_sender(context: grpc.aio.ServicerContext) -> SendMessage:
    """The Outbox's transport: context.write, a dead stream as StreamCancelledError."""

    async def send(message: ResponseMessage) -> None:
        try:
            # A response-unary handler's context has no serializer for write().
            await context.write(message.encode())
        except Exception as exc:
            # The messages we build always serialize, so a failed write means the
            # stream is dead (grpc.aio raises ExecuteBatchError for a cancelled RPC).
            raise StreamCancelledError(f"response stream closed: {exc!r}") from exc

    return send


async def _cancelled_by_host(context: grpc.aio.ServicerContext, exc: Exception) -> bool:
    """Whether a handler's exception is the stream's cancellation showing through.

    cancelling(): the stream's cancellation reached the task even if the handler
    swallowed the CancelledError and then failed while unwinding. A truncated
    request body is the host cutting it short on purpose (client gone or
    stalled) when the stream ends cancelled within TRUNCATION_CANCEL_WAIT_S; a
    host that merely half-closed without body_complete is a failure instead.
    """
    task = asyncio.current_task()
    if context.cancelled() or (task is not None and task.cancelling()):
        return True
    if not isinstance(exc, BodyTruncatedError):
        return False
    ended = asyncio.Event()
    context.add_done_callback(lambda _: ended.set())
    try:
        await asyncio.wait_for(ended.wait(), TRUNCATION_CANCEL_WAIT_S)
    except TimeoutError:
        return False
    except asyncio.CancelledError:
        # grpc.aio cancels the handler's task when the RPC is cancelled: the
        # answer, and the handler is ending anyway.
        return True
    return context.cancelled()


async def _fail(
    context: grpc.aio.ServicerContext,
    request: Request,
    response: ResponseWriter,
    outbox: Outbox,
    exc: Exception,
) -> NoReturn:
    """A handler raised: one log line, then the INTERNAL status ends the stream."""
    detail = f"plugin handler raised {type(exc).__name__}: {exc}"
    log.error(
        "%s %s: %s (after %d body bytes, committed=%s)",
        request.method,
        request.path,
        detail,
        response.bytes_written,
        response.committed,
        exc_info=exc,
    )
    # What the handler completed before failing still goes first, as it would
    # have without the held-back final message.
    with contextlib.suppress(StreamCancelledError):
        await outbox.send_last()
    # Invariant 6: the host maps this to 500 before response-init, and aborts the
    # client connection after it (never a truncated body that looks whole).
    await context.abort(grpc.StatusCode.INTERNAL, detail)
