"""What every summary.json shares: the schema version, the kinds, reading one.

Version 2 added the peers (go-plugin, the gRPC floor), CPU per GiB of every
target, the floor distances and the settings a run was made with; version 1
files are still read (what they lack reads as empty).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
RUN_KIND = "run"
CAPACITY_KIND = "capacity"
AB_KIND = "ab"

T = TypeVar("T")


class SummaryError(ValueError):
    """A summary that cannot be read: missing, malformed, another schema."""


def summary_path(path: str | Path) -> Path:
    p = Path(path)
    return p / "summary.json" if p.is_dir() else p


def read_json(path: Path) -> dict[str, Any]:
    """A summary.json's top-level object; SummaryError naming the file otherwise."""
    if not path.is_file():
        raise SummaryError(f"{path}: no such file (expected a summary.json or a run folder)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SummaryError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise SummaryError(f"{path}: expected a JSON object at the top level")
    return data


def require_schema(data: dict[str, Any], path: str) -> None:
    if data.get("schema_version") not in READABLE_VERSIONS:
        raise SummaryError(
            f"{path}: schema_version {data.get('schema_version')!r}, "
            f"this bench reads {', '.join(map(str, READABLE_VERSIONS))}"
        )


def known_fields(cls: type, data: Any) -> dict[str, Any]:
    """The keys of `data` that are fields of the dataclass `cls` (others are dropped,
    missing ones take their defaults): how records read older and newer files."""
    if not isinstance(data, dict):
        return {}
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def record(cls: type[T], data: Any) -> T:
    """A flat record from its JSON object, tolerant of missing and unknown keys."""
    return cls(**known_fields(cls, data))


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def listing(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def number_map(value: Any) -> dict[str, float]:
    """A {name: number} object; anything else in it is dropped."""
    return {
        str(k): float(v)
        for k, v in mapping(value).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
