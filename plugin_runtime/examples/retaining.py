"""A test plugin that retains on purpose: the `bench` demo, but its streamed
`/file` keeps a reference to every chunk it wrote until the response ends.

It exists so the bench can show that its file verdicts catch a runtime that holds
a whole file in memory (docs/files.md); never serve it for anything else:

    BENCH_PLUGIN_APP=plugin_runtime.examples.retaining:app python -m bench run --scenarios file ...

Each chunk is a fresh object read from the file (as in the demo), so keeping them
costs the file's size in memory; the pattern download could not show this (its
chunks are one shared object). Every other route, and /file with offload=1, is
the demo's.
"""

from __future__ import annotations

from plugin_runtime import Request, ResponseWriter
from plugin_runtime.examples import bench


async def app(request: Request, response: ResponseWriter) -> None:
    root = response.files_root
    name = request.query.get("path", [""])[-1]
    streamed = request.query.get("offload", [""])[-1] != "1"
    if request.path.rstrip("/") != "/file" or not streamed or root is None or not name:
        await bench.app(request, response)
        return
    chunk = int(request.query.get("chunk", [str(response.max_chunk_bytes)])[-1])
    retained: list[bytes] = []  # every chunk written, until the response ends
    with await root.open(name) as opened:
        response.headers["Content-Type"] = "application/octet-stream"
        response.headers["Content-Length"] = str(opened.size)
        while data := await opened.read(chunk):
            retained.append(data)
            await response.write(data)
    await response.close()
    retained.clear()
