"""Generated protobuf code is committed; this fails when it drifts from proto/."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GENERATED_DIRS = ["host/internal/gen", "plugin_runtime/_proto"]


def _files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_generated_code_matches_proto(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(
        ["bash", str(REPO / "scripts" / "gen-proto.sh"), str(tmp_path)],
        check=True,
        cwd=REPO,
        env=env,
    )
    for rel in GENERATED_DIRS:
        committed, fresh = REPO / rel, tmp_path / rel
        assert _files(committed) == _files(fresh), f"{rel}: file set differs from generated"
        for name in sorted(_files(fresh)):
            assert filecmp.cmp(committed / name, fresh / name, shallow=False), (
                f"{rel}/{name} drifted from proto/: run scripts/gen-proto.sh and commit"
            )
