"""The other tools a run drives at the same services: pytest-benchmark and Locust.

Each runs as a child process with its log and output in the run folder; a tool
that is absent or turned off is recorded as skipped, with the reason.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.core.paths import REPO_ROOT
from bench.core.profiles import Profile
from bench.core.targets import BRIDGE
from bench.results.run import ToolStep
from bench.runner.services import Services

log = logging.getLogger(__name__)

LOCUSTFILE = REPO_ROOT / "bench" / "load" / "locustfile.py"
BENCHMARKS_DIR = REPO_ROOT / "bench" / "benchmarks"


def run_step(name: str, args: list[str], run_dir: Path, env: dict[str, str]) -> ToolStep:
    log_path = run_dir / f"{name}.log"
    log.info("running %s: %s", name, " ".join(args))
    with log_path.open("wb") as out:
        try:
            proc = subprocess.run(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                env={**os.environ, **env},
                timeout=900,
            )
        except subprocess.TimeoutExpired:
            return ToolStep("failed", f"timed out; see {log_path.name}")
    status = "ok" if proc.returncode == 0 else "failed"
    return ToolStep(status, f"log {log_path.name}", proc.returncode)


@dataclass(frozen=True)
class ToolSteps:
    """Which of the other tools `bench run` runs after its scenarios (flags --no-*)."""

    pytest_benchmark: bool = True
    locust: bool = True
    locust_seconds: int | None = None  # default: the profile's


def run_tool_steps(
    tools: ToolSteps, services: Services, run_dir: Path, profile: Profile
) -> dict[str, ToolStep]:
    """pytest-benchmark and Locust against the same services, output into the run folder."""
    steps: dict[str, ToolStep] = {}
    env: dict[str, str] = {}
    if not services.processes:
        # Running services (compose): point the suite at them. Spawned runs let the
        # suite start its own pair, so it sees PIDs (psutil) as well.
        env["BENCH_TARGET_URL"] = services.targets[BRIDGE].base_url
        env["BENCH_STATS_URL"] = services.stats_url or ""
    if not tools.pytest_benchmark:
        steps["pytest-benchmark"] = ToolStep("skipped", "--no-pytest-benchmark")
    elif not BENCHMARKS_DIR.is_dir():
        steps["pytest-benchmark"] = ToolStep("skipped", f"{BENCHMARKS_DIR} absent")
    else:
        steps["pytest-benchmark"] = run_step(
            "pytest-benchmark",
            [
                sys.executable,
                *("-m", "pytest", str(BENCHMARKS_DIR.relative_to(REPO_ROOT))),
                "--benchmark-only",  # the project's pytest options skip benchmarks
                f"--benchmark-json={run_dir / 'pytest-benchmark.json'}",
                *("-p", "no:cacheprovider", "-q"),
            ],
            run_dir,
            env,
        )
    if not tools.locust:
        steps["locust"] = ToolStep("skipped", "--no-locust")
    elif not LOCUSTFILE.is_file():
        steps["locust"] = ToolStep("skipped", f"{LOCUSTFILE} absent")
    elif shutil.which("locust", path=str(Path(sys.executable).parent)) is None:
        steps["locust"] = ToolStep("skipped", "locust not installed")
    else:
        seconds = tools.locust_seconds or profile.locust_seconds
        steps["locust"] = run_step(
            "locust",
            [
                str(Path(sys.executable).parent / "locust"),
                *("-f", str(LOCUSTFILE.relative_to(REPO_ROOT))),
                "--headless",
                *("--host", services.targets[BRIDGE].base_url),
                *("-u", "8", "-r", "8", "-t", f"{seconds}s"),
                *("--csv", str(run_dir / "locust"), "--html", str(run_dir / "locust.html")),
                "--only-summary",
            ],
            run_dir,
            env,
        )
    return steps
