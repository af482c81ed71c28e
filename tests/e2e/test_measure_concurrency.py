"""scripts/measure_concurrency.py: the rows it measures and the growth it reports.

A small real run (host, plugin, curl) checks that --same-bytes gives every row
the same bytes to move and that --fresh measures each row in its own processes;
peak_growth is checked on rows built by hand.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "measure_concurrency.py"
MiB = 1024 * 1024


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("measure_concurrency", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run_script(*args: str) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc, rows


def test_same_bytes_and_fresh_processes() -> None:
    proc, rows = run_script(
        *("--streams", "1,4", "--kinds", "down,mixed", "--size", str(MiB)),
        *("--same-bytes", "--fresh", "--no-uvicorn"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [(r["kind"], r["streams"]) for r in rows] == [
        ("down", 1),
        ("down", 4),
        ("mixed", 1),
        ("mixed", 4),
    ]
    for row in rows:
        assert row["failed"] == 0, row
        assert row["bytes_per_transfer"] * row["streams"] == 4 * MiB, row
    assert "down bridge host: " in proc.stdout
    assert "mixed bridge plugin: " in proc.stdout
    # Each row had its own host and plugin.
    for process in ("host", "plugin"):
        assert len({r["pids"][process] for r in rows}) == len(rows)


def test_rows_share_processes_by_default() -> None:
    proc, rows = run_script(
        *("--streams", "1,2", "--kinds", "down", "--size", str(MiB), "--no-uvicorn")
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [r["bytes_per_transfer"] for r in rows] == [MiB, MiB]
    assert rows[0]["pids"] == rows[1]["pids"]


def test_fresh_refuses_compose() -> None:
    proc, rows = run_script("--fresh", "--compose", "http://127.0.0.1:1")
    assert proc.returncode == 2
    assert "--fresh" in proc.stderr
    assert rows == []


def test_peak_growth_from_fewest_to_most_streams() -> None:
    script = load_script()

    def row(kind: str, streams: int, target: str, **peaks: float) -> dict:
        return {"kind": kind, "streams": streams, "target": target, "peak_rss_mib": peaks}

    lines = script.peak_growth(
        [
            row("down", 256, "bridge", host=55.0, plugin=66.0),
            row("down", 32, "bridge", host=50.0, plugin=66.0),
            row("down", 128, "bridge", host=80.0, plugin=70.0),
            row("down", 32, "uvicorn", uvicorn=40.0),
            row("down", 256, "uvicorn", uvicorn=30.0),
            row("up", 32, "bridge", host=10.0, plugin=10.0),
        ]
    )
    assert lines == [
        "down bridge host: 50.0 MiB at 32 -> 55.0 MiB at 256 streams (+10 %)",
        "down bridge plugin: 66.0 MiB at 32 -> 66.0 MiB at 256 streams (+0 %)",
        "down uvicorn: 40.0 MiB at 32 -> 30.0 MiB at 256 streams (-25 %)",
    ]
