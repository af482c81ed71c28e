"""bench/load/locustfile.py run headless by the real `locust` CLI against real servers.

Three ways it is used: through the bridge in one process, through the bridge in
master/worker mode (`--processes 2`, what compose does across containers), and
against a bare uvicorn serving the same demo handler (no /plugins prefix).
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.core.polling import wait_until
from bench.runner.stack import REPO_ROOT, Stack, free_tcp_port, run_stack

LOCUSTFILE = REPO_ROOT / "bench" / "load" / "locustfile.py"
DOWNLOAD_SIZE = 4 * 1024 * 1024
UPLOAD_SIZE = 2 * 1024 * 1024

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(log_dir=tmp_path_factory.mktemp("locust-stack")) as running:
        yield running


@pytest.fixture(scope="module")
def uvicorn_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo handler served straight by uvicorn (the "Python direct" reference)."""
    port = free_tcp_port()
    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "plugin_runtime.examples.bench:asgi",
                "--host=127.0.0.1",
                f"--port={port}",
                "--log-level=warning",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {log.read_text()[-2000:]}")
            urllib.request.urlopen(f"{url}/status?code=200", timeout=1).read()
            return True

        # 60 s: a busy machine starts Python slowly.
        wait_until(answers, 60, interval=0.1, what="uvicorn answering", retry_on=(OSError,))
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


ROW_NAMES = (f"download {DOWNLOAD_SIZE}", f"upload {UPLOAD_SIZE}", "status 200")
# Bounds only a failure: a busy machine needs seconds to start Locust and finish
# the first transfer of each user.
DEADLINE_S = 120.0


def read_rows(csv_path: Path) -> dict[str, dict[str, str]]:
    """The rows of a Locust stats CSV by name ({} while it is not written yet)."""
    try:
        with csv_path.open(newline="") as fh:
            return {row["Name"]: row for row in csv.DictReader(fh)}
    except FileNotFoundError:
        return {}


def every_user_finished_a_request(rows: dict[str, dict[str, str]]) -> bool:
    return all(int(rows.get(name, {}).get("Request Count") or 0) > 0 for name in ROW_NAMES)


def run_locust(host: str, out: Path, extra: list[str]) -> dict[str, dict[str, str]]:
    """Run locust headless until each user has finished a request, then stop it with
    SIGTERM; the rows of its stats CSV by name.

    Not a fixed --run-time: Locust counts that from a clock its start-up leaves
    stale, so on a busy machine a 4 s run ended before any request had finished.
    SIGTERM is handled on gevent's loop: the users stop as at the end of a run
    (within --stop-timeout, else cut) and the exit code reports failed requests.
    (SIGINT is not reliable: its KeyboardInterrupt lands in whichever greenlet runs
    and can be swallowed; and neither signal writes the --html report.)
    """
    log_path = out / "locust.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "--users=3",
                "--spawn-rate=3",
                f"--run-time={DEADLINE_S:g}s",  # a backstop only: stopped sooner below
                f"--host={host}",
                f"--csv={out / 'run'}",
                "--only-summary",
                "--loglevel=WARNING",
                *extra,
                "DownloadUser",
                "UploadUser",
                "SmallRequestUser",
            ],
            env={
                **os.environ,
                "BENCH_DOWNLOAD_SIZE": str(DOWNLOAD_SIZE),
                "BENCH_UPLOAD_SIZE": str(UPLOAD_SIZE),
                "BENCH_CHUNK": "65536",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    try:
        # Locust rewrites the CSV every second while it runs.
        wait_until(
            lambda: (
                proc.poll() is not None
                or every_user_finished_a_request(read_rows(out / "run_stats.csv"))
            ),
            DEADLINE_S,
            interval=0.2,
            what="a request of each user",
        )
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log_path.read_text(errors="replace")[-4000:]
    assert returncode == 0, output  # locust exits 1 when any request failed
    return read_rows(out / "run_stats.csv")


def check_rows(rows: dict[str, dict[str, str]]) -> None:
    download, upload, small = (rows[name] for name in ROW_NAMES)
    for row in (download, upload, small):
        assert int(row["Request Count"]) > 0, row
        assert int(row["Failure Count"]) == 0, row
    # Real byte counts (Locust's own clients report 0 for streamed bodies), and exact:
    # a transfer cut when the run stops must not be counted as a short success.
    assert float(download["Average Content Size"]) == DOWNLOAD_SIZE
    assert float(upload["Average Content Size"]) == UPLOAD_SIZE


def test_locust_through_bridge(stack: Stack, tmp_path: Path) -> None:
    check_rows(run_locust(stack.plugin_url, tmp_path, ["--stop-timeout=5"]))


def test_locust_master_and_workers(stack: Stack, tmp_path: Path) -> None:
    # No --stop-timeout: users are killed mid-transfer and must not skew the counts.
    check_rows(run_locust(stack.plugin_url, tmp_path, ["--processes=2"]))


def test_locust_against_bare_uvicorn(uvicorn_url: str, tmp_path: Path) -> None:
    check_rows(run_locust(uvicorn_url, tmp_path, ["--stop-timeout=5"]))


def test_step_ramp_shape_is_off_unless_asked_for() -> None:
    """Locust runs any concrete shape of a locustfile by itself: without
    BENCH_RAMP_LEVELS the usual -u/-r/-t runs (bench run's Locust step) are untouched.
    In a child process: importing locust monkey-patches the interpreter (gevent)."""
    env = {k: v for k, v in os.environ.items() if k != "BENCH_RAMP_LEVELS"}
    probe = (
        "from locust.util.load_locustfile import load_locustfile; "
        f"users, shapes = load_locustfile({str(LOCUSTFILE)!r}); "
        "print([(type(s).__name__, getattr(s, 'levels', None)) for s in shapes])"
    )

    def shapes(extra: dict[str, str]) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", probe],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO_ROOT,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout.strip()

    assert shapes({}) == "[]"
    assert shapes({"BENCH_RAMP_LEVELS": "quick"}) == (
        "[('StepRampShape', [1, 2, 4, 8, 16, 32, 64, 128])]"
    )


def test_locust_step_ramp_drives_the_bridge_and_ends_by_itself(
    stack: Stack, tmp_path: Path
) -> None:
    """The same ramp under the real CLI, master + 2 workers: no --run-time, the shape
    steps through the levels and ends the run (exit 0 within the timeout)."""
    run = subprocess.run(
        [
            *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"),
            *(f"--host={stack.plugin_url}", f"--csv={tmp_path / 'ramp'}", "--processes=2"),
            *("--only-summary", "--loglevel=INFO", "--stop-timeout=5"),
            *("DownloadUser", "UploadUser"),
        ],
        env={
            **os.environ,
            "BENCH_RAMP_LEVELS": "1,2,4",
            "BENCH_RAMP_STEP_S": "3",
            # Small bodies: on a loaded machine requests must still finish within a step.
            "BENCH_DOWNLOAD_SIZE": "65536",
            "BENCH_UPLOAD_SIZE": "65536",
        },
        capture_output=True,
        text=True,
        timeout=90,
        cwd=REPO_ROOT,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    # The master logs each step the shape asks for (events, not the 1 s CSV tick).
    steps = re.findall(r"Shape test updating to (\d+) users", output)
    assert [int(n) for n in steps] == [1, 2, 4], output[-6000:]
    with (tmp_path / "ramp_stats.csv").open(newline="") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    assert int(rows["Aggregated"]["Request Count"]) > 0
    assert int(rows["Aggregated"]["Failure Count"]) == 0
