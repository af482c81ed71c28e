"""The plugin process: a grpc.aio server for ServeHTTP, stats and health.

Each ServeHTTP stream runs the plugin handler inside the RPC's own task, so:
- backpressure: ResponseWriter sends with `await context.write()`, which only
  returns once gRPC flow control accepts the message (no queue in between);
- cancellation: when the host cancels the stream (client went away), grpc.aio
  cancels that task and the handler's next await raises CancelledError;
- the request body is read with `context.read()` only when the handler asks;
- the message that ends the response leaves with the RPC's status (ResponseStream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from plugin_runtime._proto import bench_stats_pb2_grpc as stats_grpc
from plugin_runtime._proto import hooks_http_pb2_grpc as hooks_grpc
from plugin_runtime.listen import ListenAddressError, is_loopback_host, parse_listen
from plugin_runtime.memory import IdleTrimmer, tune_malloc
from plugin_runtime.request import BodyTruncatedError, ProtocolError, Request
from plugin_runtime.response import (
    DEFAULT_MAX_CHUNK_BYTES,
    DEFAULT_RESPONSE_BUFFER_BYTES,
    ResponseBufferBudget,
    ResponseWriter,
)
from plugin_runtime.stats import HandlerCounters, PluginStatsServicer
from plugin_runtime.wire import RequestMessage, ResponseMessage, decode_request

log = logging.getLogger("plugin_runtime")

Handler = Callable[[Request, ResponseWriter], Awaitable[None]]

# Health service names reported SERVING: "" (whole server) and "plugin" (go-plugin's name).
HEALTH_SERVICES = ("", "plugin")
# Largest request message accepted: the host chooses its request chunk size
# (--request-chunk-bytes), which must stay below this.
MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024
# HTTP/2 receive window per stream (request upload direction). With grpc's
# default BDP probing the window grows until C-core buffers ~18 MiB of each
# upload ahead of the handler (measured: 8 concurrent uploads took the plugin
# from 40 to 188 MiB RSS); a fixed 1 MiB window holds it to ~6 MiB per stream
# for ~10-20 % less upload throughput (docs/performance.md). 0 = BDP probing.
DEFAULT_RECEIVE_WINDOW_BYTES = 1024 * 1024
DEFAULT_SHUTDOWN_GRACE_S = 5.0
SERVE_HTTP_SERVICE = "mattermost.pluginapi.v1.PluginHooks"


# How long a handler whose request body was cut short waits to learn whether the
# host cancelled the stream: the host cancels right after it stops sending, and
# the read that found the body truncated can see the end before the cancellation.
TRUNCATION_CANCEL_WAIT_S = 2.0


async def _ends_cancelled(context: grpc.aio.ServicerContext) -> bool:
    """True when the stream ends cancelled (the host cut the body short on purpose:
    client gone or stalled) within TRUNCATION_CANCEL_WAIT_S; a host that merely
    half-closed without body_complete is a failure instead."""
    if context.cancelled():
        return True
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


class StreamCancelledError(asyncio.CancelledError):
    """The response stream is gone (host cancelled it or the connection broke).

    A CancelledError, so a handler blocked in `await response.write()` unwinds
    exactly as when grpc.aio cancels its task (invariant 7).
    """


class ResponseStream:
    """The response side of one ServeHTTP stream: sends the handler's messages and
    holds back the one that ends the response, so that it leaves with the status.

    grpc.aio sends a streaming handler's messages and its final status in separate
    batches, each a trip through C-core's completion queue, its poller thread and
    the event loop; the message a handler *returns* leaves in one batch with the
    status. A small response is one message (init + body + body_complete), so this
    saves one of its four batches (docs/performance.md). ServeHTTP is therefore
    served request-streaming, response-unary (`add_serve_http`): the wire is the
    same (DATA frames, then the trailers, on one HTTP/2 stream) and the host stays
    a bidirectional-stream client.

    The held message waits one event-loop turn: a handler still running then
    (work after close(), e.g. an ASGI app's background tasks) does not keep the
    client waiting: the held bytes go out at once with flush, and body_complete
    alone follows when the handler returns. Raw messages (send_raw, fault
    injection) are held back one at a time, so the last one ends the stream as sent.
    """

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context
        self._held: ResponseMessage | None = None
        self._push: asyncio.Task[None] | None = None
        self._handler_returned = False

    async def _write(self, message: ResponseMessage) -> None:
        try:
            # A response-unary handler's context has no serializer for write().
            await self._context.write(message.encode())
        except Exception as exc:
            # The messages we build always serialize, so a failed write means the
            # stream is dead (grpc.aio raises ExecuteBatchError for a cancelled RPC).
            raise StreamCancelledError(f"response stream closed: {exc!r}") from exc

    async def send(self, message: ResponseMessage, *, raw: bool = False) -> None:
        if raw:
            if self._held is not None:
                held, self._held = self._held, None
                await self._write(held)
            self._held = message
        elif message.body_complete:
            self._held = message
            asyncio.get_running_loop().call_soon(self._push_if_still_running)
        else:
            await self._write(message)

    def _push_if_still_running(self) -> None:
        held = self._held
        if self._handler_returned or held is None or not held.body_complete:
            return
        # body_complete alone stays held; init and body bytes go now, flushed.
        self._held = ResponseMessage(body_complete=True)
        if held.init is not None or held.body_chunk:
            held.body_complete = False
            held.flush = True
            self._push = asyncio.get_running_loop().create_task(self._write(held))

    async def finish(self) -> ResponseMessage:
        """The handler returned: the message to return from the RPC (sent with OK)."""
        self._handler_returned = True
        if self._push is not None:
            await self._push  # no two sends at once; raises if the stream died
        held, self._held = self._held, None
        return held if held is not None else ResponseMessage(body_complete=True)

    async def send_held(self) -> None:
        """Send what is held now (before a failure status ends the stream)."""
        self._handler_returned = True
        with contextlib.suppress(StreamCancelledError):
            if self._push is not None:
                await self._push
            if self._held is not None:
                held, self._held = self._held, None
                await self._write(held)

    async def discard(self) -> None:
        """Stop a push still in flight (the handler failed or was cancelled)."""
        push, self._push = self._push, None
        if push is None:
            return
        if not push.done():
            push.cancel()
            await asyncio.wait([push])  # a cancellation of this task still propagates
        if not push.cancelled():
            push.exception()  # seen: no "exception was never retrieved" warning


def add_serve_http(servicer: ServeHTTPServicer, server: grpc.aio.Server) -> None:
    """Register ServeHTTP request-streaming, response-unary (see ResponseStream);
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
    """PluginHooks.ServeHTTP: one stream per HTTP request, one handler call per stream."""

    def __init__(
        self,
        handler: Handler,
        counters: HandlerCounters,
        max_chunk_bytes: int,
        response_buffer_bytes: int = DEFAULT_RESPONSE_BUFFER_BYTES,
    ) -> None:
        self._handler = handler
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
            request = Request.from_first_message(first, receive)
        except ProtocolError as exc:
            log.error("bad ServeHTTP stream from host: %s", exc)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

        stream = ResponseStream(context)

        async def send(message: ResponseMessage) -> None:
            await stream.send(message, raw=response.raw)

        response = ResponseWriter(send, self._max_chunk_bytes, self.budget)
        counters = self._counters
        counters.active += 1
        counters.total += 1
        try:
            await self._handler(request, response)
            # A handler may return without close(): complete the response for it.
            await response.close()
            return await stream.finish()
        except asyncio.CancelledError:
            # Invariant 7: the host cancelled the stream (client gone); let it unwind.
            counters.cancelled += 1
            log.info(
                "handler cancelled: %s %s (stream cancelled by host)", request.method, request.path
            )
            raise
        except Exception as exc:
            # cancelling(): the stream's cancellation reached the task even if the
            # handler swallowed the CancelledError and then failed while unwinding.
            task = asyncio.current_task()
            if (
                context.cancelled()
                or (task is not None and task.cancelling())
                or (isinstance(exc, BodyTruncatedError) and await _ends_cancelled(context))
            ):
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
            # What the handler completed before failing still goes first, as it
            # would have without the held-back final message.
            await stream.send_held()
            # Invariant 6: the host maps this to 500 before response-init, and aborts
            # the client connection after it (never a truncated body that looks whole).
            await context.abort(grpc.StatusCode.INTERNAL, detail)
        finally:
            await stream.discard()
            counters.active -= 1
            self.idle_trimmer.handler_ended()


class PluginServer:
    """Owns the grpc.aio server, its services and its lifecycle."""

    def __init__(
        self,
        handler: Handler,
        listen: str,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        receive_window_bytes: int = DEFAULT_RECEIVE_WINDOW_BYTES,
        response_buffer_bytes: int = DEFAULT_RESPONSE_BUFFER_BYTES,
    ) -> None:
        if max_chunk_bytes < 1:
            raise ValueError(f"max_chunk_bytes must be >= 1, got {max_chunk_bytes}")
        if receive_window_bytes < 0:
            raise ValueError(f"receive_window_bytes must be >= 0, got {receive_window_bytes}")
        self.address = parse_listen(listen)
        self.max_chunk_bytes = max_chunk_bytes
        self.receive_window_bytes = receive_window_bytes
        self.response_buffer_bytes = response_buffer_bytes
        self.counters = HandlerCounters(max_chunk_bytes=max_chunk_bytes)
        self.health = HealthServicer()
        self.bound_port = 0
        self._handler = handler
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        send_limit = max(4 * 1024 * 1024, 2 * self.max_chunk_bytes)
        options: list[tuple[str, int]] = [
            ("grpc.max_send_message_length", send_limit),
            ("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ]
        if self.receive_window_bytes:
            options += [
                ("grpc.http2.bdp_probe", 0),
                ("grpc.http2.lookahead_bytes", self.receive_window_bytes),
            ]
        server = grpc.aio.server(options=options)
        add_serve_http(
            ServeHTTPServicer(
                self._handler, self.counters, self.max_chunk_bytes, self.response_buffer_bytes
            ),
            server,
        )
        stats_grpc.add_PluginStatsServiceServicer_to_server(
            PluginStatsServicer(self.counters), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        self._bind(server)
        await server.start()
        for service in HEALTH_SERVICES:
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        log.info(
            "plugin runtime listening on %s (max_chunk_bytes=%d, receive_window_bytes=%d, "
            "response_buffer_bytes=%d, pid=%d)",
            self.address.grpc_target,
            self.max_chunk_bytes,
            self.receive_window_bytes,
            self.response_buffer_bytes,
            os.getpid(),
        )

    def _bind(self, server: grpc.aio.Server) -> None:
        target, path = self.address.grpc_target, self.address.socket_path
        # Security: the socket is created 0600 (umask while binding, chmod after), so
        # other users on the machine cannot talk to the plugin.
        old_umask = os.umask(0o177) if path else None
        try:
            self.bound_port = server.add_insecure_port(target)
        except RuntimeError as exc:
            raise ListenAddressError(f"--listen {target!r}: cannot bind: {exc}") from exc
        finally:
            if old_umask is not None:
                os.umask(old_umask)
        if path:
            os.chmod(path, 0o600)
        elif not is_loopback_host(target.rpartition(":")[0]):
            # Security: the plugin trusts every caller (the host strips
            # Mattermost-User-Id, nobody else does); only an internal network is safe.
            log.warning(
                "--listen %s is not a loopback address: the plugin is reachable from other "
                "machines; use unix:/path.sock or 127.0.0.1 unless on an internal network",
                target,
            )

    async def stop(self, grace: float | None = DEFAULT_SHUTDOWN_GRACE_S) -> None:
        """Report NOT_SERVING, let streams finish for `grace` s, then cancel and await them."""
        if self._server is None:
            return
        server, self._server = self._server, None
        await self.health.enter_graceful_shutdown()
        await server.stop(grace)  # returns once every handler task has ended
        if self.address.socket_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address.socket_path)
        log.info(
            "plugin runtime stopped (handlers total=%d cancelled=%d failed=%d)",
            self.counters.total,
            self.counters.cancelled,
            self.counters.failed,
        )


async def serve(
    handler: Handler,
    listen: str,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE_S,
    receive_window_bytes: int = DEFAULT_RECEIVE_WINDOW_BYTES,
    response_buffer_bytes: int = DEFAULT_RESPONSE_BUFFER_BYTES,
) -> None:
    """Run until SIGTERM/SIGINT, then stop gracefully."""
    tune_malloc()
    server = PluginServer(
        handler, listen, max_chunk_bytes, receive_window_bytes, response_buffer_bytes
    )
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("signal received: stopping (grace %.1fs)", shutdown_grace)
    finally:
        await server.stop(shutdown_grace)
