"""The files the file scenarios serve: one per size, the demo pattern inside.

The bench writes them into a files root that the host (`--files-root`) and the
plugin (`--files-root`) both see; every side names a file the same way.
"""

from __future__ import annotations

from bench.core.units import human_size


def pattern_file_name(size: int) -> str:
    """`pattern-256MiB.bin`: `size` bytes, byte i = i % 256."""
    return f"pattern-{human_size(size)}.bin"
