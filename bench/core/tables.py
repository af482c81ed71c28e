"""Markdown tables and the cell formats every report uses."""

from __future__ import annotations

from collections.abc import Sequence

from bench.core.units import MiB


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, spec: str = ".0f") -> str:
    """A number in a cell, `-` when there is none."""
    return "-" if value is None else format(value, spec)


def fmt_mib(value: float | None) -> str:
    """Bytes as MiB with one decimal, `-` when there is none."""
    return "-" if value is None else f"{value / MiB:.1f}"


def per_name(values: dict[str, float], spec: str = ".2f") -> str:
    """`host 0.61, plugin 0.45`, or `-` when empty."""
    return ", ".join(f"{name} {format(v, spec)}" for name, v in values.items()) or "-"
