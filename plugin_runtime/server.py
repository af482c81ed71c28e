"""The plugin process: a grpc.aio server for ServeHTTP, stats and health.

Each ServeHTTP stream runs the plugin handler inside the RPC's own task, so:
- backpressure: ResponseWriter sends with `await context.write()`, which only
  returns once gRPC flow control accepts the message (no queue in between);
- cancellation: when the host cancels the stream (client went away), grpc.aio
  cancels that task and the handler's next await raises CancelledError;
- the request body is read with `context.read()` only when the handler asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from plugin_runtime._proto import bench_stats_pb2_grpc as stats_grpc
from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime._proto import hooks_http_pb2_grpc as hooks_grpc
from plugin_runtime.memory import IdleTrimmer, tune_malloc
from plugin_runtime.request import BodyTruncatedError, ProtocolError, Request
from plugin_runtime.response import (
    DEFAULT_MAX_CHUNK_BYTES,
    DEFAULT_RESPONSE_BUFFER_BYTES,
    ResponseBufferBudget,
    ResponseWriter,
)
from plugin_runtime.stats import HandlerCounters, PluginStatsServicer

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


class ListenAddressError(ValueError):
    """--listen is not `unix:/path.sock` or `HOST:PORT`, or cannot be bound."""


@dataclass(frozen=True)
class ListenAddress:
    grpc_target: str
    socket_path: str | None  # for unix sockets


def parse_listen(address: str) -> ListenAddress:
    """Check `unix:/path.sock` or `HOST:PORT` and say what is wrong otherwise."""
    if address.startswith("unix:"):
        path = address.removeprefix("unix:")
        if path.startswith("//"):
            path = path[2:]  # unix:///abs/path form
        if not path:
            raise ListenAddressError(f"--listen {address!r}: empty unix socket path")
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise ListenAddressError(
                f"--listen {address!r}: directory {directory!r} does not exist"
            )
        return ListenAddress(f"unix:{path}", path)
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ListenAddressError(
            f"--listen {address!r}: expected unix:/path.sock or HOST:PORT (e.g. 127.0.0.1:50051)"
        )
    return ListenAddress(address, None)


def _is_loopback_host(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost: cannot tell, so warn
        return False


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

    async def ServeHTTP(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:
        first = await context.read()
        if first is grpc.aio.EOF:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "stream ended before init")

        async def receive() -> pb.ServeHTTPRequest | None:
            try:
                message = await context.read()
            except Exception as exc:
                raise StreamCancelledError(f"request stream closed: {exc!r}") from exc
            return None if message is grpc.aio.EOF else message

        try:
            request = Request._from_first_message(first, receive)
        except ProtocolError as exc:
            log.error("bad ServeHTTP stream from host: %s", exc)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

        async def send(message: pb.ServeHTTPResponse) -> None:
            try:
                await context.write(message)
            except Exception as exc:
                # The messages we build always serialize, so a failed write means the
                # stream is dead (grpc.aio raises ExecuteBatchError for a cancelled RPC).
                raise StreamCancelledError(f"response stream closed: {exc!r}") from exc

        response = ResponseWriter(send, self._max_chunk_bytes, self.budget)
        counters = self._counters
        counters.active += 1
        counters.total += 1
        try:
            await self._handler(request, response)
            # A handler may return without close(): complete the response for it.
            await response.close()
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
                return
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
            # Invariant 6: the host maps this to 500 before response-init, and aborts
            # the client connection after it (never a truncated body that looks whole).
            await context.abort(grpc.StatusCode.INTERNAL, detail)
        finally:
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
        hooks_grpc.add_PluginHooksServicer_to_server(
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
        elif not _is_loopback_host(target.rpartition(":")[0]):
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
