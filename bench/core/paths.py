"""Where the repository, its binaries and the results live.

Each binary's path can be overridden by an environment variable of its name
(`HOSTSTUB_BIN=/tmp/hoststub-leakplant`), so a test build or another checkout's
binary can be measured without copying it into bin/.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = REPO_ROOT / "bin"
RESULTS_DIR = REPO_ROOT / "results"
BASELINE_DIR = RESULTS_DIR / "baseline"


def binary(name: str) -> Path:
    """bin/<name>, or the path in <NAME>_BIN (e.g. HOSTSTUB_BIN for hoststub)."""
    override = os.environ.get(f"{name.upper()}_BIN")
    return Path(override) if override else BIN_DIR / name


HOSTSTUB_BIN = binary("hoststub")
LOADGEN_BIN = binary("loadgen")
GOPLUGINHOST_BIN = binary("gopluginhost")
