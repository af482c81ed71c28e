"""The demo plugin's body pattern, byte i = i % 256, and how to check it.

The `bench` demo plugin sends it from `/download`; the bench, the tests and the
other example apps send it as upload bodies and check every byte that comes
back against it. They all take it from here, so they cannot disagree.
Nothing is allocated per chunk: pieces are slices of a few cached buffers.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator

PERIOD = 256
# Reads up to this size are checked with one memcmp; longer ones in pieces of it.
_CHECK_BYTES = 4 * 1024 * 1024
# Buffers kept per chunk size (uploads and downloads use a handful of sizes).
_CACHED_SIZES = 8


class PatternMismatch(ValueError):
    """A body byte that is not the pattern's; the message names the first one."""


@functools.lru_cache(maxsize=_CACHED_SIZES)
def _repeated(length: int) -> bytes:
    """`length` pattern bytes plus one period, so `length` bytes at any phase are one slice."""
    return bytes(range(PERIOD)) * (length // PERIOD + 2)


_REFERENCE = _repeated(_CHECK_BYTES)


@functools.lru_cache(maxsize=_CACHED_SIZES)
def pattern_block(length: int) -> bytes:
    """The first `length` pattern bytes, one shared object per length."""
    return _repeated(length)[:length]


def pattern_chunks(size: int, chunk: int) -> Iterator[bytes | memoryview]:
    """`size` pattern bytes in pieces of `chunk` bytes (the last one may be shorter).

    When `chunk` is a multiple of the period every full piece starts at phase 0
    and is the same `bytes` object, which a writer can keep without a copy;
    otherwise pieces are views into one buffer.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1 byte, not {chunk}")
    if chunk % PERIOD == 0:
        block = pattern_block(chunk)
        full, rest = divmod(size, chunk)
        for _ in range(full):
            yield block
        if rest:
            yield memoryview(block)[:rest]
        return
    view = memoryview(_repeated(chunk))
    sent = 0
    while sent < size:
        n = min(chunk, size - sent)
        phase = sent % PERIOD
        yield view[phase : phase + n]
        sent += n


@functools.cache
def pattern_sha256(size: int) -> str:
    """sha256 hex digest of `size` pattern bytes (cached: compute it outside timed regions)."""
    digest = hashlib.sha256()
    for piece in pattern_chunks(size, 1024 * 1024):
        digest.update(piece)
    return digest.hexdigest()


class PatternVerifier:
    """Checks a body piece by piece as it arrives; raises PatternMismatch at the first bad byte."""

    def __init__(self) -> None:
        self.offset = 0  # body bytes checked so far

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            piece = view[:_CHECK_BYTES]
            phase = self.offset % PERIOD
            if not _REFERENCE.startswith(piece, phase):
                self._fail(piece)
            self.offset += len(piece)
            view = view[len(piece) :]

    def _fail(self, piece: memoryview) -> None:
        bad = next(i for i in range(len(piece)) if piece[i] != (self.offset + i) % PERIOD)
        position = self.offset + bad
        raise PatternMismatch(f"body byte {position} is {piece[bad]}, expected {position % PERIOD}")
