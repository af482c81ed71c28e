"""The files root: which names it takes, how it opens files (the host's rules:
inside the root, regular files only), and reads off the event loop."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugin_runtime.files import (
    FilesRoot,
    FilesRootError,
    NotARegularFileError,
    content_type_of,
    offload_offered,
    open_file,
)
from plugin_runtime.headers import Headers

from .conftest import wait_for


@pytest.fixture
def root(tmp_path: Path) -> FilesRoot:
    """report.txt, sub/inner.bin, a link inside, a link out, a loop, a FIFO, beside a secret."""
    (tmp_path / "secret.txt").write_text("secret")
    base = tmp_path / "root"
    (base / "sub").mkdir(parents=True)
    (base / "report.txt").write_bytes(b"0123456789")
    (base / "sub" / "inner.bin").write_bytes(b"inner")
    (base / "inside").symlink_to("sub/inner.bin")
    (base / "escape").symlink_to("../secret.txt")
    (base / "loop").symlink_to("loop")
    os.mkfifo(base / "fifo")
    return FilesRoot(base)


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("report.txt", "report.txt"),
        ("sub/inner.bin", "sub/inner.bin"),
        ("./sub//inner.bin", "sub/inner.bin"),
        ("sub/./inner.bin/", "sub/inner.bin"),
    ],
)
def test_names_are_relative_and_clean(root: FilesRoot, given: str, name: str) -> None:
    assert root.relative(given) == name
    assert root.relative(Path(root.path) / given) == name  # absolute under the root
    assert root.relative(Path(root.real_path) / given) == name


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("../secret.txt", "'..' may not lead out"),
        ("sub/../../secret.txt", "'..' may not lead out"),
        ("sub/../report.txt", "'..' may not lead out"),  # refused, not resolved
        ("/etc/passwd", "is outside the files root"),
        ("", "not a non-empty text path"),
        ("a\0b", "not a non-empty text path"),
        (".", "names the files root itself"),
    ],
)
def test_names_that_leave_the_root_are_refused(root: FilesRoot, given: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        root.relative(given)
    assert not root.contains(given)


def test_the_root_itself_as_an_absolute_path_is_not_a_file(root: FilesRoot) -> None:
    with pytest.raises(ValueError, match="names the files root itself"):
        root.relative(root.path)
    with pytest.raises(ValueError, match="outside the files root"):
        root.relative(root.path + "-sibling/x")  # a prefix of the name is not the root


def test_a_root_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FilesRootError, match="not an existing directory"):
        FilesRoot(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FilesRootError):
        FilesRoot(tmp_path / "file")


async def test_open_reads_a_regular_file_in_pieces(root: FilesRoot) -> None:
    with await root.open("report.txt") as opened:
        assert opened.size == 10 and opened.name == "report.txt"
        assert [await opened.read(4) for _ in range(4)] == [b"0123", b"4567", b"89", b""]
    with await root.open("inside") as opened:  # a link that stays inside is fine
        assert await opened.read(100) == b"inner"


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("missing.txt", FileNotFoundError, "No such file"),
        ("report.txt/below", FileNotFoundError, "path through a file"),
        ("sub", NotARegularFileError, "a directory"),
        ("fifo", NotARegularFileError, "not a regular file"),  # and no wait for a writer
        ("escape", PermissionError, "leads out of the files root"),
        ("loop", PermissionError, "too many symbolic links"),
    ],
)
async def test_open_refuses_as_the_host_does(
    root: FilesRoot, name: str, error: type[OSError], message: str
) -> None:
    with pytest.raises(error, match=message):
        await asyncio.wait_for(root.open(name), 30)


def test_not_a_regular_file_is_answered_like_a_missing_one() -> None:
    assert issubclass(NotARegularFileError, FileNotFoundError)


async def test_open_file_takes_any_regular_file(root: FilesRoot, tmp_path: Path) -> None:
    with await open_file(tmp_path / "secret.txt") as opened:
        assert await opened.read(100) == b"secret"


@pytest.fixture
def read_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the threads os.pread runs on."""
    names: list[str] = []
    pread = os.pread

    def recording(fd: int, size: int, offset: int) -> bytes:
        names.append(threading.current_thread().name)
        return pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", recording)
    yield names


async def test_reads_run_off_the_event_loop(root: FilesRoot, read_threads: list[str]) -> None:
    with await root.open("report.txt") as opened:
        await opened.read(5)
        await opened.read(5)
    assert len(read_threads) == 2
    assert threading.current_thread().name not in read_threads
    assert all(name.startswith("plugin-files") for name in read_threads)


async def test_close_waits_for_a_read_its_caller_abandoned(
    root: FilesRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancelled read still runs on its thread: the descriptor stays open until it ends."""
    release, started = threading.Event(), threading.Event()
    pread = os.pread

    def slow(fd: int, size: int, offset: int) -> bytes:
        started.set()
        assert release.wait(30)
        return pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", slow)
    opened = await root.open("report.txt")
    reading = asyncio.ensure_future(opened.read(4))
    await asyncio.to_thread(started.wait, 30)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    opened.close()
    assert _report_is_open(root)  # still open: the abandoned read runs on
    release.set()
    await wait_for(lambda: not _report_is_open(root))


def _report_is_open(root: FilesRoot) -> bool:
    """Whether this process holds a descriptor to report.txt."""
    target = os.path.join(root.real_path, "report.txt")
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == target:
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize(
    ("values", "offered"),
    [
        ([], False),
        (["X-Sendfile"], True),
        (["x-sendfile "], True),
        (["X-Accel-Redirect"], False),
    ],
)
def test_offload_is_offered_only_by_the_x_sendfile_type(values: list[str], offered: bool) -> None:
    assert offload_offered(Headers([("X-Sendfile-Type", v) for v in values])) is offered


def test_content_type_by_name() -> None:
    assert content_type_of("a/report.txt") == "text/plain"
    assert content_type_of("pattern-1MiB.bin") == "application/octet-stream"
    assert content_type_of("no-extension") == "application/octet-stream"
