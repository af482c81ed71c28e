"""Sizes and rates: binary sizes for bodies and memory, decimal MB for throughput."""

from __future__ import annotations

import re

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
MB = 1_000_000  # throughput is reported in MB/s (10^6 bytes per second)

_SIZE_UNITS = {"": 1, "b": 1, "k": KiB, "m": MiB, "g": GiB}


def human_size(n: int) -> str:
    """1048576 -> '1MiB', 65536 -> '64KiB' (used in scenario ids)."""
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n}B"


def parse_size(value: str | int, what: str = "size") -> int:
    """Bytes of a compose-style size: `128m`, `1g`, `512k`, `134217728`."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*", value.lower())
    if match is None:
        raise ValueError(f"{what} {value!r}: expected e.g. 128m, 1g or a byte count")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def mib_text(n: float | None) -> str:
    """`12.3 MiB`, or `-` when there is no figure."""
    return "-" if n is None else f"{n / MiB:.1f} MiB"
