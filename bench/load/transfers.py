"""The one transfer function of each kind: a download, an upload, a file, checked.

Every scenario, the warm-up and every capacity stream move bytes through these:
a download is checked against the demo's pattern as it arrives, an upload by the
byte count and sha256 the server answers, a file download against the pattern
the files were written with (from the range's first byte). A wrong answer raises
`TransferFailed` with its kind (`"503"` for any status, `"corrupt"`, `"truncated"`),
which the capacity ramp counts and a scenario reports.
"""

from __future__ import annotations

import json
from typing import Any

from bench.core.targets import Target
from bench.load.client import Connection, Response, TransferError
from plugin_runtime.examples.pattern import (
    PatternMismatch,
    PatternVerifier,
    pattern_chunks,
    pattern_sha256,
)


class TransferFailed(TransferError):
    """A transfer whose answer was wrong, with the kind the reports count."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def _checked_get(
    conn: Connection,
    target: Target,
    path: str,
    size: int,
    what: str,
    *,
    first_byte: int = 0,
    headers: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """GET `path`: `size` body bytes of the pattern from `first_byte` on, or, from a
    target that discards (the gRPC floor), a JSON count of them."""
    if target.discards:
        resp = conn.request("GET", path, keep_body=True, headers=headers)
        _check_status(resp, what, status)
        answer = _json(resp, what)
        received = answer.get("bytes")
        if received != size or not answer.get("complete"):
            raise TransferFailed(
                "truncated", f"{what}: the floor received {received} of {size} bytes"
            )
        return resp
    verifier = PatternVerifier()
    verifier.offset = first_byte
    corrupt: list[str] = []

    def on_body(data: memoryview) -> None:
        # Noted, not raised: an error page (a 503 from admission control) is no
        # pattern either, and its status is the better name for what went wrong.
        if not corrupt:
            try:
                verifier.update(data)
            except PatternMismatch as exc:
                corrupt.append(str(exc))

    resp = conn.request("GET", path, on_body=on_body, headers=headers)
    _check_status(resp, what, status)
    if corrupt:
        raise TransferFailed("corrupt", f"{what}: {corrupt[0]}")
    if not resp.complete:
        raise TransferFailed("truncated", f"{what} truncated at {resp.body_bytes} of {size} bytes")
    if resp.body_bytes != size:
        raise TransferFailed("truncated", f"{what} gave {resp.body_bytes} bytes, not {size}")
    return resp


def _check_status(resp: Response, what: str, expected: int) -> None:
    if resp.status != expected:
        raise TransferFailed(
            str(resp.status), f"{what} answered HTTP {resp.status}: {resp.body[:200]!r}"
        )


def _json(resp: Response, what: str) -> dict[str, Any]:
    try:
        answer = json.loads(resp.body)
    except ValueError:
        raise TransferFailed("corrupt", f"{what} answer is not JSON: {resp.body[:200]!r}") from None
    if not isinstance(answer, dict):
        raise TransferFailed("corrupt", f"{what} answer is not a JSON object: {answer!r}")
    return answer


def download(conn: Connection, target: Target, size: int, chunk: int) -> Response:
    """GET /download?size=N&chunk=C: `size` pattern bytes, written `chunk` at a time."""
    path = f"{target.download_path}?size={size}&chunk={chunk}"
    return _checked_get(conn, target, path, size, "download")


def upload(
    conn: Connection, target: Target, size: int, chunk: int, *, hashed: bool = True
) -> Response:
    """POST /upload from a generator (never held whole); the server's count and sha256.
    `hashed=False` asks the demo not to hash (`?hash=none`): the transport alone."""
    path = target.upload_path + ("" if hashed else "?hash=none")
    resp = conn.request(
        "POST",
        path,
        body=pattern_chunks(size, chunk),
        content_length=size,
        keep_body=True,
        headers={"Content-Type": "application/octet-stream"},
    )
    _check_status(resp, "upload", 200)
    answer = _json(resp, "upload")
    if answer.get("bytes") != size:
        raise TransferFailed("truncated", f"upload: server counted {answer.get('bytes')} of {size}")
    if hashed and answer.get("sha256") != pattern_sha256(size):
        raise TransferFailed("corrupt", "upload: sha256 differs from what was sent")
    return resp


def file_path(target: Target, name: str, chunk: int, *, offload: bool = False) -> str:
    """The target's route for one file of the files root (streamed, or offloaded)."""
    path = f"{target.file_path}?path={name}&chunk={chunk}"
    return path + "&offload=1" if offload else path


def file_download(
    conn: Connection,
    target: Target,
    name: str,
    size: int,
    chunk: int,
    *,
    offload: bool = False,
    byte_range: tuple[int, int] | None = None,
) -> Response:
    """GET one file of the files root (`size` bytes of the pattern), whole or a range
    (`bytes=first-last`, answered 206 with exactly those bytes)."""
    path = file_path(target, name, chunk, offload=offload)
    if byte_range is None:
        return _checked_get(conn, target, path, size, "file download")
    first, last = byte_range
    return _checked_get(
        conn,
        target,
        path,
        last - first + 1,
        f"file range {first}-{last}",
        first_byte=first,
        headers={"Range": f"bytes={first}-{last}"},
        status=206,
    )
