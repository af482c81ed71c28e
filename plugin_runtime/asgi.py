"""ASGI in both directions.

- `asgi_handler(asgi_app)`: serve any ASGI 3 app (Starlette, FastAPI, ...) as the plugin.
  With a files root it offers the `http.response.pathsend` extension, answered with
  ResponseWriter.send_file (offloaded to the host when it can), so Starlette's
  FileResponse hands its file over instead of streaming it through the plugin.
- `asgi_app(handler)`: serve a plugin handler with an ASGI server (uvicorn), so the
  same handler code can be measured without the gRPC bridge ("Python direct").

Both keep the runtime's rules: the body is pulled on demand (at most one message
read ahead), sends await the other side's flow control, and a client that goes away
cancels the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, unquote

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.files import FilesRoot, open_file, stream_file
from plugin_runtime.outbox import DEFAULT_MAX_CHUNK_BYTES
from plugin_runtime.request import Request
from plugin_runtime.response import ResponseWriter
from plugin_runtime.wire import RequestMessage, ResponseMessage

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[Request, ResponseWriter], Awaitable[None]]

PATHSEND = "http.response.pathsend"


def _split_host_port(address: str) -> tuple[str, int] | None:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def asgi_handler(app: ASGIApp) -> Handler:
    """A plugin handler that runs the ASGI 3 `app` for each request."""

    async def handler(request: Request, response: ResponseWriter) -> None:
        path, _, query = request.url.partition("?")
        http_version = request.proto.removeprefix("HTTP/") or "1.1"
        scope: Scope = {
            "type": "http",
            # 2.4: no listen_for_disconnect task racing the app for body messages;
            # a disconnect cancels this handler instead (invariant 7).
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": http_version,
            "method": request.method,
            "scheme": "http",
            "path": unquote(path) or "/",
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [
                (key.lower().encode("latin-1"), value.encode("latin-1"))
                for key, value in request.headers.items()
            ],
            "client": _split_host_port(request.remote_addr),
            "server": _split_host_port(request.host),
            "state": {},
        }
        if response.files_root is not None:
            scope["extensions"] = {PATHSEND: {}}
        chunks = aiter(request.body)
        body_done = False
        response_done = asyncio.Event()
        receive_lock = asyncio.Lock()

        async def receive() -> Message:
            nonlocal body_done
            async with receive_lock:  # one body reader at a time, whatever the app does
                if not body_done:
                    chunk = await anext(chunks, b"")
                    body_done = not chunk
                    return {"type": "http.request", "body": chunk, "more_body": bool(chunk)}
            await response_done.wait()  # after the body: "disconnect" once the response ended
            return {"type": "http.disconnect"}

        status: int | None = None  # from http.response.start; committed with the body

        async def send(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                if status is not None:
                    raise RuntimeError("ASGI app sent http.response.start twice")
                status = message["status"]
                for key, value in message.get("headers", ()):
                    response.headers.add(key.decode("latin-1"), value.decode("latin-1"))
                return
            if status is None:
                raise RuntimeError(f"ASGI app sent {kind} before http.response.start")
            if kind == "http.response.body":
                if not response.committed:
                    response.write_header(status)
                body = message.get("body", b"")
                if body:
                    await response.write(body)
                if message.get("more_body", False):
                    await response.flush()  # an ASGI body event is meant to go out now
                    return
                await response.close()
            elif kind == PATHSEND:
                if response.committed:
                    raise RuntimeError("ASGI app sent http.response.pathsend after body")
                await _send_path(response, message["path"], status)
            else:
                raise RuntimeError(f"ASGI message {kind!r} is not supported by the plugin bridge")
            response_done.set()

        try:
            await app(scope, receive, send)
        finally:
            response_done.set()
        if not response.closed:
            # Never let a response the app did not finish look complete (invariant 6).
            raise RuntimeError("ASGI app returned without completing the response")

    return handler


async def _send_path(response: ResponseWriter, path: str, status: int) -> None:
    """pathsend: a file under the files root goes by send_file (offloaded when the
    host can); any other file, or another status, the plugin streams itself."""
    root = response.files_root
    if status == 200 and root is not None and os.path.isabs(path) and root.contains(path):
        await response.send_file(path)
    else:
        await stream_file(response, await open_file(path), status=status)


def asgi_app(
    handler: Handler,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
    files_root: FilesRoot | str | None = None,
) -> ASGIApp:
    """An ASGI 3 app that runs the plugin `handler` (e.g. `uvicorn module:asgi`).
    With `files_root`, send_file() streams files from it (there is no host to offload to)."""
    root = FilesRoot(files_root) if isinstance(files_root, str) else files_root

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"plugin handlers serve HTTP only, not {scope['type']!r}")
        await _serve_http(handler, max_chunk_bytes, root, scope, receive, send)

    return app


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _join_host_port(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address else ""


def _request_init(scope: Scope) -> pb.ServeHTTPRequestInit:
    headers: dict[str, pb.HTTPHeader] = {}
    for raw_key, raw_value in scope.get("headers", ()):
        key = raw_key.decode("latin-1")
        header = headers.setdefault(key.lower(), pb.HTTPHeader(key=key))
        header.values.append(raw_value.decode("latin-1"))
    content_length = -1
    if "content-length" in headers:
        with contextlib.suppress(ValueError):
            content_length = int(headers["content-length"].values[0])
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else quote(scope["path"])
    query = scope.get("query_string", b"").decode("latin-1")
    url = f"{path}?{query}" if query else path
    client, server = scope.get("client"), scope.get("server")
    http_version = scope.get("http_version", "1.1")
    host_header = headers.get("host")
    return pb.ServeHTTPRequestInit(
        method=scope["method"],
        url=url,
        request_uri=url,
        proto=f"HTTP/{http_version}",
        proto_major=int(http_version.split(".")[0]),
        proto_minor=int(http_version.split(".")[1]) if "." in http_version else 0,
        headers=list(headers.values()),
        host=host_header.values[0] if host_header else _join_host_port(server),
        remote_addr=_join_host_port(client),
        content_length=content_length,
    )


async def _serve_http(
    handler: Handler,
    max_chunk_bytes: int,
    files_root: FilesRoot | None,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    # One pump reads ASGI events into a one-slot queue: the handler pulls body from it
    # (at most one message read ahead), and the pump sees http.disconnect while the
    # handler is busy writing, so it can cancel the handler promptly.
    inbox: asyncio.Queue[RequestMessage | None] = asyncio.Queue(maxsize=1)
    handler_task: asyncio.Task[None] | None = None
    disconnected = asyncio.Event()

    async def pump() -> None:
        body_complete = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected.set()
                if handler_task is not None:
                    handler_task.cancel()
                if not body_complete:
                    await inbox.put(None)  # stream ended early: the body is truncated
                return
            if message["type"] == "http.request" and not body_complete:
                body_complete = not message.get("more_body", False)
                await inbox.put(
                    RequestMessage(body_chunk=message.get("body", b""), body_complete=body_complete)
                )

    async def receive_message() -> RequestMessage | None:
        return await inbox.get()

    async def send_message(message: ResponseMessage) -> None:
        if message.init is not None:
            status = message.init.status_code or 200
            if not 100 <= status <= 999:
                # What the host does for an invalid status (proto invariant 2).
                raise ValueError(f"invalid HTTP status {status} from handler")
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (header.key.encode("latin-1"), value.encode("latin-1"))
                        for header in message.init.headers
                        for value in header.values
                    ],
                }
            )
        if message.body_chunk or message.body_complete or message.init is None:
            await send(
                {
                    "type": "http.response.body",
                    "body": message.body_chunk,
                    "more_body": not message.body_complete,
                }
            )

    async def run_handler() -> None:
        request = Request(_request_init(scope), receive_message)
        response = ResponseWriter(send_message, max_chunk_bytes, files_root=files_root)
        await handler(request, response)
        await response.close()  # a handler may return without close()

    handler_task = asyncio.create_task(run_handler())
    pump_task = asyncio.create_task(pump())
    try:
        await handler_task
    except asyncio.CancelledError:
        if handler_task.cancelled() and not pump_task.cancelled() and disconnected.is_set():
            return  # the client went away and the pump cancelled the handler: nothing to answer
        handler_task.cancel()
        raise
    finally:
        pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump_task
        with contextlib.suppress(asyncio.CancelledError):
            await handler_task
