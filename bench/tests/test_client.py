"""The raw-socket client: framing, pattern checks, truncation never looks complete."""

from __future__ import annotations

import pytest

from bench.load.client import (
    Connection,
    PatternVerifier,
    TransferError,
    pattern_chunks,
    pattern_sha256,
)


def test_pattern_chunks_and_sha() -> None:
    import hashlib

    data = b"".join(bytes(c) for c in pattern_chunks(1000, 64))
    assert data == bytes(i % 256 for i in range(1000))
    assert pattern_sha256(1000) == hashlib.sha256(data).hexdigest()


def test_verifier_finds_first_bad_byte() -> None:
    v = PatternVerifier()
    v.update(memoryview(bytes(range(200))))
    with pytest.raises(TransferError, match="byte 203 is 0, expected 203"):
        v.update(memoryview(bytes([200, 201, 202, 0])))


def test_chunked_body_verified_and_complete(fake_host) -> None:
    v = PatternVerifier()
    with Connection(fake_host.url) as conn:
        resp = conn.request("GET", "/chunked", on_body=v.update)
    assert resp.status == 200 and resp.complete and resp.body_bytes == 300_000
    assert v.offset == 300_000


def test_truncated_chunked_body_is_not_complete(fake_host) -> None:
    with Connection(fake_host.url) as conn:
        resp = conn.request("GET", "/chunked-truncated")
    assert not resp.complete


def test_wrong_byte_is_an_error(fake_host) -> None:
    with Connection(fake_host.url) as conn, pytest.raises(TransferError, match="byte 700"):
        conn.request("GET", "/wrong", on_body=PatternVerifier().update)


def test_stop_after_aborts(fake_host) -> None:
    with Connection(fake_host.url) as conn:
        resp = conn.request("GET", "/chunked", stop_after=100_000)
    assert not resp.complete and 100_000 <= resp.body_bytes < 300_000
