"""The demo's GET /file under ASGI (as uvicorn serves it: no host, so always streamed):
C bytes per read, names kept inside the files root, refusals as JSON."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from plugin_runtime.asgi import asgi_app
from plugin_runtime.examples.bench import app as bench_app
from plugin_runtime.examples.pattern import pattern_block

SIZE = 10_000
SECRET = b"classified bytes beside the root"


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    (tmp_path / "secret.txt").write_bytes(SECRET)
    root = tmp_path / "files"
    (root / "sub").mkdir(parents=True)
    (root / "pattern.bin").write_bytes(pattern_block(SIZE))
    (root / "escape").symlink_to("../secret.txt")
    transport = httpx.ASGITransport(app=asgi_app(bench_app, files_root=str(root)))
    async with httpx.AsyncClient(transport=transport, base_url="http://plugin") as client:
        yield client


async def test_file_is_streamed_c_bytes_per_read(
    demo: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    pread = os.pread

    def recording(fd: int, size: int, offset: int) -> bytes:
        sizes.append(size)
        return pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", recording)
    for offload in ("", "&offload=1"):  # no host to offload to: send_file streams too
        sizes.clear()
        reply = await demo.get(f"/file?path=pattern.bin&chunk=3000{offload}")
        assert reply.status_code == 200 and reply.content == pattern_block(SIZE)
        assert reply.headers["content-length"] == str(SIZE)
        assert "x-sendfile" not in reply.headers
    assert sizes == [SIZE]  # send_file reads max_chunk_bytes (1 MiB) at a time
    sizes.clear()
    await demo.get("/file?path=pattern.bin&chunk=3000")
    assert sizes == [3000, 3000, 3000, 1000]


@pytest.mark.parametrize("offload", ["", "&offload=1"])
@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("../secret.txt", 403, "path must be relative and stay inside the files root"),
        ("/etc/passwd", 403, "path must be relative and stay inside the files root"),
        ("sub/../../secret.txt", 403, "path must be relative and stay inside the files root"),
        ("escape", 403, "leads out of the files root (symlink)"),
        ("missing.bin", 404, "No such file or directory"),
        ("sub", 404, "a directory: only regular files are served"),
    ],
)
async def test_names_outside_the_root_or_not_files_are_refused(
    demo: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    path: str,
    status: int,
    error: str,
    offload: str,
) -> None:
    reply = await demo.get(f"/file?path={path}{offload}")
    assert reply.status_code == status
    assert reply.json() == {"error": error, "path": path}
    assert SECRET not in reply.content
    assert any(f"/file?path={path!r} refused with {status}" in m for m in caplog.messages)


async def test_path_is_required(demo: httpx.AsyncClient) -> None:
    reply = await demo.get("/file")
    assert reply.status_code == 400 and "path is required" in reply.json()["error"]
