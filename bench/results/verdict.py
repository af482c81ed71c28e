"""A verdict: one pass/fail decision of a run, with the figures it was decided on."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bench.results.format import mapping, record


@dataclass
class Verdict:
    """One pass/fail decision with the figures it was decided on and its tolerance."""

    name: str
    passed: bool
    summary: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Verdict:
        v = record(cls, {"name": "", "passed": False, **mapping(data)})
        v.figures = mapping(v.figures)
        return v
