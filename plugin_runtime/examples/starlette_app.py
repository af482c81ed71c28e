"""A plain Starlette app served as a plugin through the ASGI adapter.

Nothing in the routes knows about the plugin system: they use Starlette's own
`StreamingResponse` and `request.stream()`. The runtime serves `app` as it is (it
tells an ASGI app from a plugin handler by its signature, see
plugin_runtime/loader.py); `plugin` is the same app wrapped by `asgi_handler`
explicitly, as code that builds its own handler would do:

    python -m plugin_runtime --app plugin_runtime.examples.starlette_app:app \
        --listen unix:/tmp/plugin.sock
    python -m plugin_runtime --app plugin_runtime.examples.starlette_app:plugin ...  # the same
    uvicorn plugin_runtime.examples.starlette_app:app      # the same app, without the bridge

Routes (under /plugins/{id} through the host):
- GET  /ticks?count=N&interval_ms=M  one line per interval, streamed (incremental delivery)
- GET  /download?size=N&chunk=C      N pattern bytes (byte i = i % 256), C per body event
- POST /upload                       request.stream() hashed: {"bytes", "sha256", "chunks"}
- POST /echo                         each received chunk sent straight back (full duplex)
- GET  /forever                      one line, then waits until cancelled
- GET  /files/{path}                 Starlette's StaticFiles over PLUGIN_FILES_ROOT (when set):
                                     its FileResponse uses http.response.pathsend, which the
                                     runtime offers with a files root, so the host serves it
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from plugin_runtime.asgi import asgi_handler
from plugin_runtime.examples.pattern import pattern_chunks


def _int_param(request: Request, name: str, default: int) -> int:
    return int(request.query_params.get(name, default))


async def ticks(request: Request) -> Response:
    count = _int_param(request, "count", 5)
    interval_s = _int_param(request, "interval_ms", 100) / 1000

    async def lines() -> AsyncIterator[bytes]:
        for i in range(count):
            if i:
                await asyncio.sleep(interval_s)
            yield f"tick {i}\n".encode()

    return StreamingResponse(lines(), media_type="text/plain")


async def download(request: Request) -> Response:
    try:
        size = _int_param(request, "size", 1024 * 1024)
        chunk = _int_param(request, "chunk", 64 * 1024)
    except ValueError:
        return PlainTextResponse("size and chunk must be integers", status_code=400)
    if size < 0 or chunk < 1:
        return PlainTextResponse("size must be >= 0 and chunk >= 1", status_code=400)

    async def pattern() -> AsyncIterator[bytes | memoryview]:
        for piece in pattern_chunks(size, chunk):
            yield piece

    return StreamingResponse(
        pattern(), media_type="application/octet-stream", headers={"Content-Length": str(size)}
    )


async def upload(request: Request) -> Response:
    digest, total, chunks = hashlib.sha256(), 0, 0
    async for chunk in request.stream():
        if chunk:
            digest.update(chunk)
            total += len(chunk)
            chunks += 1
    return JSONResponse({"bytes": total, "sha256": digest.hexdigest(), "chunks": chunks})


async def echo(request: Request) -> Response:
    async def back() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    return StreamingResponse(back(), media_type="application/octet-stream")


async def forever(request: Request) -> Response:
    async def first_then_wait() -> AsyncIterator[bytes]:
        yield b"first\n"
        await asyncio.Event().wait()  # until the client goes away and we are cancelled
        yield b"never\n"

    return StreamingResponse(first_then_wait(), media_type="text/plain")


routes: list[BaseRoute] = [
    Route("/ticks", ticks),
    Route("/download", download),
    Route("/upload", upload, methods=["POST"]),
    Route("/echo", echo, methods=["POST"]),
    Route("/forever", forever),
]
# The runtime's --files-root comes from the same variable when it is set there.
if files_root := os.environ.get("PLUGIN_FILES_ROOT"):
    routes.append(Mount("/files", StaticFiles(directory=files_root)))

app = Starlette(routes=routes)

plugin = asgi_handler(app)
