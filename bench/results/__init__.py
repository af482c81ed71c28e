"""The results format: every summary.json the bench writes, as typed records.

One format, versioned (`format.SCHEMA_VERSION`), read back into the same types
the bench produced: `run.RunSummary` (`bench run`, `bench sweep`),
`capacity.CapacityRun` (`bench capacity`), `ab.ABRun` (`bench rps`, `bench ab`).
Compare, markdown, history and plots read these records; nothing pokes at
dicts. `load_summary` reads any of them from a file or a run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.results.ab import ABRun
from bench.results.capacity import CapacityRun
from bench.results.format import (
    AB_KIND,
    CAPACITY_KIND,
    SummaryError,
    read_json,
    require_schema,
    summary_path,
)
from bench.results.run import RunSummary, validate_run

Summary = RunSummary | CapacityRun | ABRun


def summary_from_json(data: dict[str, Any], path: str = "summary") -> Summary:
    """The record of one parsed summary.json, by its kind; SummaryError when malformed."""
    try:
        if data.get("kind") == CAPACITY_KIND:
            if not isinstance(data.get("ramps"), list):
                raise SummaryError(f"{path}: capacity run without a 'ramps' list")
            return CapacityRun.from_json(data, path)
        if data.get("kind") == AB_KIND:
            return ABRun.from_json(data, path)
        validate_run(data, path)
        return RunSummary.from_json(data, path)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SummaryError):
            raise
        raise SummaryError(f"{path}: not a readable summary ({exc!r})") from exc


def load_summary(path: str | Path) -> Summary:
    """summary.json from a file or a run folder, checked well enough to compare."""
    p = summary_path(path)
    data = read_json(p)
    require_schema(data, str(p))
    return summary_from_json(data, str(p))


__all__ = ["ABRun", "CapacityRun", "RunSummary", "Summary", "SummaryError", "load_summary"]
