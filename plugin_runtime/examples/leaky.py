"""A test plugin that leaks on purpose: the `bench` demo, keeping 256 bytes per request.

It exists so the bench's leak soak can show that it catches a small real leak
(docs/bench.md, "Leak verdicts"); never serve it for anything else:

    BENCH_PLUGIN_APP=plugin_runtime.examples.leaky:app python -m bench run --scenarios soak ...

Each request leaves one 256-byte object behind in a module-level list, the
shape of a typical leak (a cache or registry that is never pruned).
"""

from __future__ import annotations

from plugin_runtime import Request, ResponseWriter
from plugin_runtime.examples import bench

BYTES_PER_REQUEST = 256

kept: list[bytes] = []


async def app(request: Request, response: ResponseWriter) -> None:
    # A fresh object each time (a constant like b"\0" * 256 would be one shared object).
    kept.append(bytes(bytearray(BYTES_PER_REQUEST)))
    await bench.app(request, response)
