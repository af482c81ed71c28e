"""The raw-socket client: framing, 1xx, pattern checks, truncation never looks complete."""

from __future__ import annotations

import pytest

from bench.load.client import Connection, TransferError, chunked_frames
from plugin_runtime.examples.pattern import PatternVerifier


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


def test_informational_answers_are_skipped(fake_host) -> None:
    v = PatternVerifier()
    with Connection(fake_host.url) as conn:
        resp = conn.request("GET", "/informational", on_body=v.update)
        assert resp.status == 200 and resp.complete and v.offset == 1000
        assert resp.header("Link") is None  # the 103's header is not the answer's
        again = conn.request("GET", "/informational")  # the same connection, kept alive
    assert again.status == 200 and again.complete and fake_host.connections == 1


def test_body_until_close_is_never_complete(fake_host) -> None:
    with Connection(fake_host.url) as conn:
        resp = conn.request("GET", "/until-close")
    assert resp.status == 200 and resp.body_bytes == 1000 and not resp.complete


def test_chunked_frames_match_the_coding() -> None:
    wire = b"".join(bytes(f) for f in chunked_frames([b"abc", b"", memoryview(b"0123456789")]))
    # An empty piece is no chunk: a zero-size chunk would end the body there.
    assert wire == b"3\r\nabc\r\na\r\n0123456789\r\n0\r\n\r\n"
