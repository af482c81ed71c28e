"""`bench baseline RUN_DIR`: a run's summary becomes the committed baseline of its kind.

A baseline says where it came from (commit, settings, machine: its environment),
and only a run of a clean tree becomes one unless told otherwise: a baseline of
uncommitted code cannot be reproduced.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.results import Summary, load_summary
from bench.results.ab import ABRun
from bench.results.capacity import CapacityRun
from bench.results.format import SummaryError


def baseline_name(summary: Summary) -> str:
    """`<mode>-<profile>`, e.g. `spawned-quick` or `external-full` (compose), with a
    `capacity-` or `ab-` prefix for those kinds.

    Runs are only comparable with a baseline of the same kind, mode and profile, so
    each has its own folder under results/baseline/.
    """
    prefix = {CapacityRun: "capacity-", ABRun: "ab-"}.get(type(summary), "")
    return f"{prefix}{summary.environment.mode}-{summary.profile}"


def copy_baseline(
    run_dir: Path, baseline_root: Path, name: str | None = None, *, allow_dirty: bool = False
) -> Path:
    """The run's summary (and summary.md) become results/baseline/<name>/."""
    source = run_dir / "summary.json"
    if not source.is_file():
        raise FileNotFoundError(f"{source} not found: is {run_dir} a bench run folder?")
    summary = load_summary(source)
    env = summary.environment
    if env.git_dirty and not allow_dirty:
        raise SummaryError(
            f"{source}: the run was made from a tree with uncommitted changes (commit "
            f"{str(env.git_commit)[:12]} + changes), so the baseline could not be reproduced; "
            "commit and run again, or pass --allow-dirty"
        )
    if not env.git_commit:
        raise SummaryError(f"{source}: the run recorded no commit: not a baseline")
    baseline_dir = baseline_root / (name or baseline_name(summary))
    baseline_dir.mkdir(parents=True, exist_ok=True)
    target = baseline_dir / "summary.json"
    shutil.copyfile(source, target)
    if (run_dir / "summary.md").is_file():
        shutil.copyfile(run_dir / "summary.md", baseline_dir / "summary.md")
    return target
