"""ASGI's http.response.pathsend through asgi_handler: offered with a files root, and
answered with send_file (offloaded when the host offers it), by Starlette's FileResponse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.asgi import asgi_handler
from plugin_runtime.examples.pattern import pattern_block
from plugin_runtime.files import FilesRoot

OFFERED = [("X-Sendfile-Type", "X-Sendfile")]
SIZE = 3000


@pytest.fixture
def root(tmp_path: Path) -> FilesRoot:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "report.txt").write_bytes(pattern_block(SIZE))
    (tmp_path / "outside.txt").write_bytes(b"outside the root")
    return FilesRoot(tmp_path / "files")


def starlette_app(root: FilesRoot) -> Starlette:
    async def report(request: StarletteRequest) -> Response:
        return FileResponse(Path(root.path) / "report.txt", filename="r.txt")

    async def outside(request: StarletteRequest) -> Response:
        return FileResponse(Path(root.path).parent / "outside.txt")

    async def missing(request: StarletteRequest) -> Response:
        return FileResponse(Path(root.path) / "report.txt", status_code=404)

    async def extensions(request: StarletteRequest) -> Response:
        return JSONResponse(sorted(request.scope.get("extensions", {})))

    return Starlette(
        routes=[
            Route("/report", report),
            Route("/outside", outside),
            Route("/missing", missing),
            Route("/extensions", extensions),
        ]
    )


def headers_of(message: pb.ServeHTTPResponse) -> dict[str, list[str]]:
    return {h.key.lower(): list(h.values) for h in message.init.headers}


async def serve(plugin_factory: Any, root: FilesRoot) -> Any:
    app = asgi_handler(starlette_app(root))
    return await plugin_factory(app, max_chunk_bytes=1000, files_root=root)


async def test_pathsend_is_offered_only_with_a_files_root(plugin_factory, root) -> None:  # type: ignore[no-untyped-def]
    client = await serve(plugin_factory, root)
    _, body, _ = await client.fetch("/extensions")
    assert body == b'["http.response.pathsend"]'
    app = asgi_handler(starlette_app(root))
    bare = await plugin_factory(app)  # the same app, no files root
    _, body, _ = await bare.fetch("/extensions")
    assert body == b"[]"


async def test_file_response_is_offloaded_when_the_host_offers_it(plugin_factory, root) -> None:  # type: ignore[no-untyped-def]
    client = await serve(plugin_factory, root)
    init, body, messages = await client.fetch("/report", headers=OFFERED)
    assert len(messages) == 1 and body == b"" and messages[0].body_complete
    headers = headers_of(messages[0])
    assert init.status_code == 200
    assert headers["x-sendfile"] == ["report.txt"]
    # Starlette's own headers go along: the host answers validators and ranges with them.
    assert {"etag", "last-modified", "content-disposition", "content-type"} <= headers.keys()


async def test_file_response_is_streamed_without_offload(plugin_factory, root) -> None:  # type: ignore[no-untyped-def]
    client = await serve(plugin_factory, root)
    init, body, messages = await client.fetch("/report")
    assert init.status_code == 200 and body == pattern_block(SIZE)
    assert [len(m.body_chunk) for m in messages] == [1000, 1000, 1000]
    assert headers_of(messages[0])["content-length"] == [str(SIZE)]
    assert "x-sendfile" not in headers_of(messages[0])


async def test_files_outside_the_root_and_other_statuses_are_streamed(plugin_factory, root) -> None:  # type: ignore[no-untyped-def]
    client = await serve(plugin_factory, root)
    init, body, _ = await client.fetch("/outside", headers=OFFERED)
    assert init.status_code == 200 and body == b"outside the root"
    init, body, messages = await client.fetch("/missing", headers=OFFERED)
    assert init.status_code == 404 and body == pattern_block(SIZE)
    assert "x-sendfile" not in headers_of(messages[0])
