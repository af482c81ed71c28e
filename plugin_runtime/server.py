"""The plugin process: a grpc.aio server for ServeHTTP, stats and health.

ServeHTTP itself (one handler call per stream, in the RPC's own task) is in
servehttp.py; this module binds the socket, registers the services, reports
health, and stops gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from plugin_runtime._proto import bench_stats_pb2_grpc as stats_grpc
from plugin_runtime.files import FilesRoot
from plugin_runtime.listen import ListenAddressError, is_loopback_host, parse_listen
from plugin_runtime.memory import tune_malloc
from plugin_runtime.outbox import DEFAULT_MAX_CHUNK_BYTES, DEFAULT_RESPONSE_BUFFER_BYTES
from plugin_runtime.servehttp import Handler, ServeHTTPServicer, add_serve_http
from plugin_runtime.stats import HandlerCounters, PluginStatsServicer

__all__ = ["Handler", "PluginServer", "serve"]

log = logging.getLogger("plugin_runtime")

# Health service names reported SERVING: "" (whole server) and "plugin" (go-plugin's name).
HEALTH_SERVICES = ("", "plugin")
# Largest request message accepted: the host chooses its request chunk size
# (--request-chunk-bytes), which must stay below this.
MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024
# HTTP/2 receive window per stream (request upload direction). With grpc's
# default BDP probing the window grows until C-core buffers ~18 MiB of each
# upload ahead of the handler (measured: 8 concurrent uploads took the plugin
# from 40 to 188 MiB RSS); a fixed 1 MiB window holds it to ~6 MiB per stream
# for ~10-20 % less upload throughput (docs/decisions.md). 0 = BDP probing.
DEFAULT_RECEIVE_WINDOW_BYTES = 1024 * 1024
DEFAULT_SHUTDOWN_GRACE_S = 5.0


class PluginServer:
    """Owns the grpc.aio server, its services and its lifecycle."""

    def __init__(
        self,
        handler: Handler,
        listen: str,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        receive_window_bytes: int = DEFAULT_RECEIVE_WINDOW_BYTES,
        response_buffer_bytes: int = DEFAULT_RESPONSE_BUFFER_BYTES,
        *,
        files_root: FilesRoot | None = None,
    ) -> None:
        if max_chunk_bytes < 1:
            raise ValueError(f"max_chunk_bytes must be >= 1, got {max_chunk_bytes}")
        if receive_window_bytes < 0:
            raise ValueError(f"receive_window_bytes must be >= 0, got {receive_window_bytes}")
        self.address = parse_listen(listen)
        self.max_chunk_bytes = max_chunk_bytes
        self.receive_window_bytes = receive_window_bytes
        self.response_buffer_bytes = response_buffer_bytes
        self.files_root = files_root  # None: send_file() is off
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
        servicer = ServeHTTPServicer(
            self._handler,
            self.counters,
            self.max_chunk_bytes,
            self.response_buffer_bytes,
            self.files_root,
        )
        add_serve_http(servicer, server)
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
            "response_buffer_bytes=%d, files_root=%s, pid=%d)",
            self.address.grpc_target,
            self.max_chunk_bytes,
            self.receive_window_bytes,
            self.response_buffer_bytes,
            self.files_root.path if self.files_root else "off",
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
    files_root: FilesRoot | None = None,
) -> None:
    """Run until SIGTERM/SIGINT, then stop gracefully."""
    tune_malloc()
    server = PluginServer(
        handler,
        listen,
        max_chunk_bytes,
        receive_window_bytes,
        response_buffer_bytes,
        files_root=files_root,
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
