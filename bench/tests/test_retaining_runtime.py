"""The file verdicts catch a runtime that keeps every chunk of a file until the end.

plugin_runtime.examples.retaining:app streams /file as the demo does but holds a
reference to each chunk it wrote (each a fresh object read from the file) until
the response ends: at the smoke profile's 32 MiB file the plugin grows by about
the file, past the bounded-memory verdict's 16 MiB floor, while the 1 MiB file
barely moves it. The same run with the demo itself is the control: it passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.core.paths import HOSTSTUB_BIN, REPO_ROOT
from bench.core.profiles import PROFILES
from bench.runner.services import PLUGIN_APP_ENV

pytestmark = pytest.mark.e2e

RETAINING_APP = "plugin_runtime.examples.retaining:app"
DEMO_APP = "plugin_runtime.examples.bench:app"


def run_file_scenarios(app: str, results: Path) -> tuple[int, dict[str, Any], str]:
    """`bench run --profile smoke --scenarios file` with `app` as the plugin: the exit
    code, the bounded-memory verdicts of the plugin by name, and the output's tail."""
    proc = subprocess.run(
        [
            sys.executable,
            *("-m", "bench", "run", "--profile", "smoke", "--scenarios", "file"),
            *("--no-locust", "--no-pytest-benchmark", "--no-references"),
            *("--results-dir", str(results)),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, PLUGIN_APP_ENV: app},
        capture_output=True,
        text=True,
        timeout=240,  # a busy machine; the run itself takes seconds
    )
    (run_dir,) = list(results.iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    verdicts = {
        v["name"]: v
        for v in summary["verdicts"]
        if v["name"].startswith("bounded-memory/file/plugin/")
    }
    return proc.returncode, verdicts, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.skipif(not HOSTSTUB_BIN.exists(), reason="hoststub not built (scripts/setup.sh)")
@pytest.mark.parametrize(("app", "retains"), [(RETAINING_APP, True), (DEMO_APP, False)])
def test_file_bounded_memory_verdict_sees_a_retaining_runtime(
    app: str, retains: bool, tmp_path: Path
) -> None:
    code, verdicts, output = run_file_scenarios(app, tmp_path)
    (chunk,) = PROFILES["smoke"].chunk_sizes
    verdict = verdicts.get(f"bounded-memory/file/plugin/c{chunk}")
    assert verdict is not None, f"no file verdict for the plugin: {sorted(verdicts)}\n{output}"
    figures = verdict["figures"]
    print(f"{app}: {verdict['summary']}")  # the figures, for the report
    assert figures["large_size_bytes"] == max(PROFILES["smoke"].file_sizes)
    assert verdict["passed"] is not retains, verdict["summary"]
    # A failed verdict fails the run (exit 1); the demo's run passes every verdict.
    assert code == (1 if retains else 0), output
