"""The demo pattern: every helper agrees with byte i = i % 256, written out here once more."""

from __future__ import annotations

import hashlib

import pytest

from plugin_runtime.examples.pattern import (
    PatternMismatch,
    PatternVerifier,
    pattern_block,
    pattern_chunks,
    pattern_sha256,
)


def expected(n: int, start: int = 0) -> bytes:
    return bytes(i % 256 for i in range(start, start + n))


@pytest.mark.parametrize("chunk", [1, 64, 255, 256, 1000, 4096])
def test_chunks_join_to_the_pattern(chunk: int) -> None:
    pieces = list(pattern_chunks(3000, chunk))
    assert b"".join(bytes(p) for p in pieces) == expected(3000)
    assert all(len(p) == chunk for p in pieces[:-1])


def test_aligned_chunks_are_one_shared_bytes_object() -> None:
    pieces = list(pattern_chunks(4 * 512 + 10, 512))
    assert all(p is pieces[0] for p in pieces[:4]) and type(pieces[0]) is bytes
    assert bytes(pieces[4]) == expected(10)


def test_block_and_sha() -> None:
    assert pattern_block(1000) == expected(1000)
    assert pattern_sha256(1000) == hashlib.sha256(expected(1000)).hexdigest()


def test_zero_chunk_is_refused() -> None:
    with pytest.raises(ValueError, match="chunk"):
        list(pattern_chunks(10, 0))


def test_verifier_finds_first_bad_byte() -> None:
    v = PatternVerifier()
    v.update(memoryview(bytes(range(200))))
    with pytest.raises(PatternMismatch, match="byte 203 is 0, expected 203"):
        v.update(memoryview(bytes([200, 201, 202, 0])))


def test_verifier_checks_reads_longer_than_its_reference() -> None:
    body = bytearray(expected(9 * 1024 * 1024 + 7))
    v = PatternVerifier()
    v.update(body[:5])
    v.update(memoryview(body)[5 : 5 * 1024 * 1024])  # a read longer than one memcmp's reference
    body[8 * 1024 * 1024 + 3] ^= 0xFF
    with pytest.raises(PatternMismatch, match=f"byte {8 * 1024 * 1024 + 3} is"):
        v.update(body[5 * 1024 * 1024 :])
    assert v.offset == 5 * 1024 * 1024  # nothing of the failing read is counted
