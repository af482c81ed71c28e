"""The `bench` demo plugin: one route per behaviour the bridge must get right.

    python -m plugin_runtime --app plugin_runtime.examples.bench:app --listen unix:/tmp/p.sock \
        [--files-root DIR]
    PLUGIN_FILES_ROOT=DIR uvicorn plugin_runtime.examples.bench:asgi  # served directly

Routes (paths as the plugin sees them; the host strips /plugins/bench):
    GET  /download?size=N&chunk=C  N bytes, byte i = i % 256, written C bytes per write
    POST /upload[?hash=none]       reads the body incrementally -> {"bytes": n, "sha256": hex}
    POST /echo                     full duplex: each received chunk written back and flushed
    POST /early?status=S           answers S (default 200) without reading the body
    GET  /sse?events=N&interval_ms=M  text/event-stream, one flushed event per interval
    GET  /status?code=N            write_header(N) unchecked, to test the host's validation
    GET  /headers                  two Set-Cookie, two X-Multi; body = request headers as JSON
    GET  /fail?after=N             raises after writing N bytes (N=0: before response-init)
    GET  /hang                     never answers until cancelled
    GET  /file?path=REL&chunk=C[&offload=1]  the file REL of the files root: streamed by
                                   the plugin, C bytes per read (each a fresh object, read
                                   off the event loop); offload=1: response.send_file(REL),
                                   which the host serves itself when it offers offload.
                                   REL must stay inside the root: an absolute path or `..`
                                   is 403, a link out of the root 403, missing 404 (JSON,
                                   with a log line)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Awaitable, Callable

from plugin_runtime import Request, ResponseWriter
from plugin_runtime.asgi import asgi_app
from plugin_runtime.examples.pattern import pattern_block, pattern_chunks
from plugin_runtime.files import stream_file

MAX_DOWNLOAD_CHUNK = 16 * 1024 * 1024

log = logging.getLogger(__name__)


class BadRequest(ValueError):
    pass


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name, [None])[-1]
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"query parameter {name}={value} out of range {low}..{high}")
    return value


async def download(request: Request, response: ResponseWriter) -> None:
    size = _int_param(request, "size", 0, 0, 2**50)
    chunk = _int_param(request, "chunk", response.max_chunk_bytes, 1, MAX_DOWNLOAD_CHUNK)
    response.headers["Content-Type"] = "application/octet-stream"
    response.headers["Content-Length"] = str(size)
    # A chunk that is a multiple of 256 is the same bytes object every time: no copy
    # per write, and concurrent downloads share it.
    for piece in pattern_chunks(size, chunk):
        await response.write(piece)
    await response.close()


async def upload(request: Request, response: ResponseWriter) -> None:
    hashing = request.query.get("hash", ["sha256"])[-1] != "none"
    digest = hashlib.sha256()
    total = 0
    async for chunk in request.body:
        total += len(chunk)
        if hashing:
            digest.update(chunk)
    await _json(response, {"bytes": total, "sha256": digest.hexdigest() if hashing else None})


async def echo(request: Request, response: ResponseWriter) -> None:
    response.headers["Content-Type"] = request.headers.get(
        "Content-Type", "application/octet-stream"
    )
    async for chunk in request.body:
        await response.write(chunk)
        await response.flush()
    await response.close()


async def early(request: Request, response: ResponseWriter) -> None:
    status = _int_param(request, "status", 200, 100, 999)
    response.headers["Content-Type"] = "text/plain"
    response.write_header(status)
    await response.write(f"early response {status}; request body not read\n".encode())
    await response.close()


async def sse(request: Request, response: ResponseWriter) -> None:
    events = _int_param(request, "events", 10, 0, 1_000_000)
    interval_ms = _int_param(request, "interval_ms", 100, 0, 60_000)
    response.headers["Content-Type"] = "text/event-stream"
    response.headers["Cache-Control"] = "no-cache"
    for i in range(events):
        if i:
            await asyncio.sleep(interval_ms / 1000)
        await response.write(f"id: {i}\ndata: event {i}\n\n".encode())
        await response.flush()
    await response.close()


async def status(request: Request, response: ResponseWriter) -> None:
    code = _int_param(request, "code", 200, -(2**31), 2**31 - 1)
    # Deliberately unchecked: the host must be the one rejecting 42 or 1000 with a 500.
    response.write_header(code, validate=False)
    await response.write(f"status {code}\n".encode())
    await response.close()


async def headers(request: Request, response: ResponseWriter) -> None:
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/")
    response.headers.add("X-Multi", "one")
    response.headers.add("X-Multi", "two")
    received: dict[str, list[str]] = {}
    for key, value in request.headers.items():
        received.setdefault(key, []).append(value)
    await _json(response, {"request_headers": received})


async def fail(request: Request, response: ResponseWriter) -> None:
    after = _int_param(request, "after", 0, 0, 2**40)
    if after:
        await response.write(pattern_block(after))
        await response.flush()  # make sure response-init and the bytes went out first
    raise RuntimeError(f"/fail route: raising after {after} bytes as asked")


async def hang(request: Request, response: ResponseWriter) -> None:
    await asyncio.Event().wait()  # until the host cancels the stream


async def file(request: Request, response: ResponseWriter) -> None:
    name = request.query.get("path", [""])[-1]
    chunk = _int_param(request, "chunk", response.max_chunk_bytes, 1, MAX_DOWNLOAD_CHUNK)
    offload = request.query.get("offload", [""])[-1] == "1"
    root = response.files_root
    if root is None:
        await _refuse(response, 404, name, "the plugin has no files root (--files-root)")
        return
    if not name:
        raise BadRequest("query parameter path is required")
    if name.startswith("/") or ".." in name.split("/"):
        await _refuse(response, 403, name, "path must be relative and stay inside the files root")
        return
    try:
        if offload:
            await response.send_file(name)
        else:
            await stream_file(response, await root.open(name), chunk_bytes=chunk)
    except (FileNotFoundError, PermissionError, ValueError) as exc:
        if response.committed:
            raise  # mid-body: the stream must fail, never look complete
        status = 404 if isinstance(exc, FileNotFoundError) else 403
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        await _refuse(response, status, name, reason)


async def _refuse(response: ResponseWriter, status_code: int, name: str, reason: str) -> None:
    log.warning("GET /file?path=%r refused with %d: %s", name, status_code, reason)
    await _json(response, {"error": reason, "path": name}, status_code)


async def _json(response: ResponseWriter, payload: object, status_code: int = 200) -> None:
    body = json.dumps(payload).encode()
    response.headers["Content-Type"] = "application/json"
    response.headers["Content-Length"] = str(len(body))
    response.write_header(status_code)
    await response.write(body)
    await response.close()


ROUTES: dict[str, Callable[[Request, ResponseWriter], Awaitable[None]]] = {
    "/download": download,
    "/upload": upload,
    "/echo": echo,
    "/early": early,
    "/sse": sse,
    "/status": status,
    "/headers": headers,
    "/fail": fail,
    "/hang": hang,
    "/file": file,
}


async def app(request: Request, response: ResponseWriter) -> None:
    route = ROUTES.get(request.path.rstrip("/") or "/")
    if route is None:
        await _json(response, {"error": f"no route {request.path}"}, 404)
        return
    try:
        await route(request, response)
    except BadRequest as exc:
        if response.committed:
            raise
        await _json(response, {"error": str(exc)}, 400)


asgi = asgi_app(app, files_root=os.environ.get("PLUGIN_FILES_ROOT") or None)
