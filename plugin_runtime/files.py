"""Files under the plugin's files root (--files-root), offloaded to the host or streamed.

A plugin answers with a file in one of two ways (ResponseWriter.send_file):

- offloaded: when the host said it can (`X-Sendfile-Type: X-Sendfile` on the
  request), the answer is status 200, the handler's headers and `X-Sendfile:
  NAME`, with no body; the host opens NAME under its own files root (os.Root)
  and serves it with http.ServeContent (ranges, validators, HEAD, sendfile).
  The plugin never touches the file, so NAME is only checked as a name here.
- streamed: otherwise (a host without offload, or uvicorn serving the handler),
  the plugin opens the file itself under the same rules as the host (no way out
  of the root, by `..` or by a symbolic link; regular files only) and sends it,
  read a chunk at a time on a worker thread: no file I/O blocks the event loop,
  and each chunk is a fresh bytes object that the writer sends without a copy.

A NAME is a slash-separated path relative to the files root, as the host takes
it. Errors mirror the host's statuses: FileNotFoundError (missing, or a path
through a non-directory) and NotARegularFileError (a directory, FIFO, device:
a FileNotFoundError too) are its 404, PermissionError (out of the root, a link
loop, not readable) its 403.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import mimetypes
import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

from plugin_runtime.headers import Headers

if TYPE_CHECKING:
    from plugin_runtime.response import ResponseWriter

# The offload's headers, as the host names them (lighttpd's and Apache's
# X-Sendfile; the advertisement as Rack::Sendfile does it).
SENDFILE_HEADER = "X-Sendfile"
SENDFILE_TYPE_HEADER = "X-Sendfile-Type"
# Threads reading files for streamed answers, shared by the whole process.
FILE_READ_THREADS = 8

_executor: concurrent.futures.ThreadPoolExecutor | None = None


class FilesRootError(ValueError):
    """--files-root does not name an existing directory."""


class NotARegularFileError(FileNotFoundError):
    """A directory, FIFO, socket or device: never served, like a missing file (404)."""


class FileChangedError(OSError):
    """The file ended before the size it had when it was opened (it shrank while
    being sent): the response fails, so the client sees a broken transfer."""


def offload_offered(headers: Headers) -> bool:
    """Whether the request says the host serves X-Sendfile answers itself."""
    return any(
        value.strip().lower() == SENDFILE_HEADER.lower()
        for value in headers.get_all(SENDFILE_TYPE_HEADER)
    )


def content_type_of(name: str) -> str:
    """The Content-Type for a file by its name: mimetypes' guess, or octet-stream."""
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def _within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


class FilesRoot:
    """The directory a plugin hands files from; its names are relative to it."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = os.path.abspath(os.fspath(directory))
        if not os.path.isdir(self.path):
            raise FilesRootError(
                f"--files-root {os.fspath(directory)!r}: not an existing directory"
            )
        self.real_path = os.path.realpath(self.path)
        if not mimetypes.inited:
            mimetypes.init()  # reads the system's type files now, not on the event loop

    def relative(self, path: str | os.PathLike[str]) -> str:
        """The NAME of `path`: relative to the root, or absolute under it (made
        relative); `.` and empty elements dropped. ValueError for anything else."""
        text = os.fspath(path)
        if not isinstance(text, str) or not text or "\0" in text:
            raise ValueError(f"file name {path!r}: not a non-empty text path without NUL")
        if text.startswith("/"):
            base = next((b for b in (self.path, self.real_path) if _within(text, b)), None)
            if base is None:
                raise ValueError(f"file {text!r} is outside the files root {self.path!r}")
            text = text[len(base) :]
        parts = [part for part in text.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise ValueError(f"file name {text!r}: '..' may not lead out of the files root")
        if not parts:
            raise ValueError(f"file name {text!r} names the files root itself, not a file")
        return "/".join(parts)

    def contains(self, path: str | os.PathLike[str]) -> bool:
        """Whether `path` is a name under the root (as relative() accepts it)."""
        try:
            self.relative(path)
        except ValueError:
            return False
        return True

    async def open(self, name: str) -> OpenFile:
        """Open the regular file NAME for reading, on a worker thread; it must stay
        inside the root once symbolic links are followed (PermissionError)."""
        name = self.relative(name)
        return await _open_off_loop(
            lambda: _open_regular(os.path.join(self.real_path, name), name, self.real_path)
        )


async def open_file(path: str | os.PathLike[str]) -> OpenFile:
    """Open any regular file for reading, on a worker thread (for the plugin's
    own files, such as an ASGI app's pathsend outside the files root)."""
    path = os.fspath(path)
    return await _open_off_loop(lambda: _open_regular(path, path, None))


class OpenFile:
    """A regular file opened for streaming: its size at open, and reads on a worker thread."""

    def __init__(self, fd: int, name: str, info: os.stat_result) -> None:
        self.name = name
        self.size = info.st_size
        self.mtime = info.st_mtime
        self._fd = fd
        self._offset = 0
        self._reading: concurrent.futures.Future[bytes] | None = None

    async def read(self, size: int) -> bytes:
        """The next `size` bytes or fewer (b"" at the end), as a fresh bytes object."""
        if self._fd < 0:
            raise ValueError(f"{self.name}: read from a closed file")
        self._reading = _file_threads().submit(os.pread, self._fd, size, self._offset)
        data = await asyncio.wrap_future(self._reading)
        self._offset += len(data)
        return data

    def close(self) -> None:
        """Close now, or once a read still running on its thread (its caller was
        cancelled) has finished, so that it never reads another file's descriptor."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        reading, self._reading = self._reading, None
        if reading is None:
            os.close(fd)
        else:
            reading.add_done_callback(lambda _: os.close(fd))  # at once if already done

    def __enter__(self) -> OpenFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def stream_file(
    response: ResponseWriter,
    opened: OpenFile,
    *,
    status: int = 200,
    chunk_bytes: int | None = None,
) -> None:
    """Answer `status` with the whole of `opened` (then close it and the response):
    Content-Length from its size, Content-Type as the handler set it or from its
    name; read `chunk_bytes` (default: the writer's max_chunk_bytes) at a time."""
    with opened:
        if response.committed:
            raise RuntimeError(f"cannot stream {opened.name!r}: the response was committed")
        chunk = chunk_bytes or response.max_chunk_bytes
        if "Content-Type" not in response.headers:
            response.headers["Content-Type"] = content_type_of(opened.name)
        response.headers["Content-Length"] = str(opened.size)
        response.write_header(status)
        left = opened.size
        while left > 0:
            data = await opened.read(min(chunk, left))
            if not data:
                raise FileChangedError(
                    errno.EIO,
                    f"ended {left} bytes before its size at open ({opened.size}): it shrank",
                    opened.name,
                )
            left -= len(data)
            await response.write(data)
        await response.close()


def _file_threads() -> concurrent.futures.ThreadPoolExecutor:
    # Our own pool rather than the loop's default executor: its concurrent futures
    # say when a read abandoned by a cancelled caller has finished (OpenFile.close).
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(
            FILE_READ_THREADS, thread_name_prefix="plugin-files"
        )
    return _executor


async def _open_off_loop(opener: Callable[[], OpenFile]) -> OpenFile:
    future = _file_threads().submit(opener)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        future.add_done_callback(_close_unclaimed)  # opened after its caller left
        raise


def _close_unclaimed(future: concurrent.futures.Future[OpenFile]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()


def _open_regular(path: str, name: str, root: str | None) -> OpenFile:
    """Open `path` read-only (O_NONBLOCK: a FIFO must not wait for a writer); with
    `root`, refuse a file that is not inside it once links are followed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except NotADirectoryError:
        raise FileNotFoundError(errno.ENOENT, "no such file (path through a file)", name) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PermissionError(errno.ELOOP, "too many symbolic links", name) from None
        raise
    try:
        if root is not None and not _within(_real_path(fd, path), root):
            raise PermissionError(errno.EACCES, "leads out of the files root (symlink)", name)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise NotARegularFileError(errno.ENOENT, f"{kind}: only regular files are served", name)
        return OpenFile(fd, name, info)
    except BaseException:
        os.close(fd)
        raise


def _real_path(fd: int, path: str) -> str:
    """Where the descriptor really leads: Linux says it for the open file itself,
    so a link swapped in after the open cannot fool the check; elsewhere, realpath."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(path)
