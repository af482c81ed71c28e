"""`bench baseline RUN_DIR`: a run's summary becomes the committed baseline of its kind."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.report.summary import SCHEMA_VERSION


def baseline_name(summary: Mapping[str, Any]) -> str:
    """`<mode>-<profile>`, e.g. `spawned-quick` or `external-full` (compose).

    Runs are only comparable with a baseline of the same mode and profile, so
    each pair has its own folder under results/baseline/.
    """
    mode = summary.get("environment", {}).get("mode", "spawned")
    kind = "capacity-" if summary.get("kind") == "capacity" else ""  # `bench capacity` runs
    return f"{kind}{mode}-{summary.get('profile', 'quick')}"


def copy_baseline(run_dir: Path, baseline_root: Path, name: str | None = None) -> Path:
    """`bench baseline RUN_DIR`: the run's summary becomes results/baseline/<name>/."""
    source = run_dir / "summary.json"
    if not source.is_file():
        raise FileNotFoundError(f"{source} not found: is {run_dir} a bench run folder?")
    data = json.loads(source.read_text())
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{source}: schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}"
        )
    baseline_dir = baseline_root / (name or baseline_name(data))
    baseline_dir.mkdir(parents=True, exist_ok=True)
    target = baseline_dir / "summary.json"
    shutil.copyfile(source, target)
    if (run_dir / "summary.md").is_file():
        shutil.copyfile(run_dir / "summary.md", baseline_dir / "summary.md")
    return target
