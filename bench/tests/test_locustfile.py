"""bench/locustfile.py run headless by the real `locust` CLI against real servers.

Three ways it is used: through the bridge in one process, through the bridge in
master/worker mode (`--processes 2`, what compose does across containers), and
against a bare uvicorn serving the same demo handler (no /plugins prefix).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.stack import REPO_ROOT, Stack, free_tcp_port, run_stack

LOCUSTFILE = REPO_ROOT / "bench" / "locustfile.py"
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
        deadline = time.monotonic() + 60  # a busy machine starts Python slowly
        while True:
            try:
                urllib.request.urlopen(f"{url}/status?code=200", timeout=1).read()
                break
            except OSError as exc:
                if time.monotonic() > deadline or proc.poll() is not None:
                    tail = log.read_text()[-2000:]
                    raise RuntimeError(f"uvicorn did not start: {tail}") from exc
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_locust(host: str, out: Path, extra: list[str]) -> dict[str, dict[str, str]]:
    """Run locust headless for a few seconds; the rows of its stats CSV by name."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--users=3",
            "--spawn-rate=3",
            "--run-time=4s",
            f"--host={host}",
            f"--csv={out / 'run'}",
            f"--html={out / 'report.html'}",
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
        capture_output=True,
        text=True,
        timeout=240,  # a busy machine; pytest's own limit is 300 s
        cwd=REPO_ROOT,
    )
    output = f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert run.returncode == 0, output  # locust exits 1 when any request failed
    assert (out / "report.html").stat().st_size > 0
    with (out / "run_stats.csv").open(newline="") as fh:
        return {row["Name"]: row for row in csv.DictReader(fh)}


def check_rows(rows: dict[str, dict[str, str]]) -> None:
    download = rows[f"download {DOWNLOAD_SIZE}"]
    upload = rows[f"upload {UPLOAD_SIZE}"]
    small = rows["status 200"]
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
