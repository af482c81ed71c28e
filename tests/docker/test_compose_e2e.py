"""The containerized stack for real (marker `docker`): plugin and host capped at
128m stream transfers many times the cap byte-exact, the bench run in compose
reports container memory, and a buffering host under the same cap is
OOM-killed and reported as a failure.

Skipped when no Docker engine answers, failed instead with
STREAMBENCH_REQUIRE_DOCKER=1 (.ci/run). Bring an engine up with
scripts/docker-offline.sh."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from compose_support import REPO_ROOT, ComposeProject

from bench.core.polling import wait_until
from bench.observe import container_memory
from bench.runner import container_pair
from plugin_runtime.examples.pattern import PatternVerifier, pattern_chunks, pattern_sha256

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

MiB = 1024 * 1024
CAP = 128 * MiB
DOWNLOAD_BYTES = 1024 * MiB  # 8x the cap
UPLOAD_BYTES = 1024 * MiB  # 8x the cap
OVER_CAP_BYTES = 512 * MiB  # what the buffering host is asked to hold
WIRE_CHUNK = 1 * MiB
# Small bench run for the compose check; the size proof is the direct transfers.
BENCH_PROFILE = os.environ.get("STREAMBENCH_DOCKER_PROFILE", "smoke")
# What scripts/nightly.sh compares a smoke run with: a committed compose run of
# the smoke profile (`python -m bench baseline RUN` writes it as external-smoke).
SMOKE_BASELINE = REPO_ROOT / "results" / "baseline" / "external-smoke"


def download_exact(port: int, size: int) -> int:
    """GETs /download through the host; checks every byte; returns bytes seen."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", f"/plugins/bench/download?size={size}&chunk=65536")
        resp = conn.getresponse()
        assert resp.status == 200, f"download: HTTP {resp.status} {resp.read(500)!r}"
        verifier = PatternVerifier()  # raises PatternMismatch at the first wrong byte
        while chunk := resp.read(WIRE_CHUNK):
            verifier.update(chunk)
        return verifier.offset
    finally:
        conn.close()


def upload_exact(port: int, size: int) -> dict[str, Any]:
    """POSTs `size` pattern bytes to /upload, streamed; returns the plugin's JSON."""

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(
            "POST",
            "/plugins/bench/upload",
            body=pattern_chunks(size, WIRE_CHUNK),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        resp = conn.getresponse()
        payload = resp.read()
        assert resp.status == 200, f"upload: HTTP {resp.status} {payload[:500]!r}"
        return dict(json.loads(payload))
    finally:
        conn.close()


def service_container(project: ComposeProject, service: str) -> Any:
    client = container_memory.docker_client()
    found = container_memory.find_service_containers(client, service, project.name)
    assert found, f"no {service} container in project {project.name}"
    return found[0]


def new_run_dir(results: Path) -> Path:
    runs = [p for p in results.iterdir() if p.is_dir() and p.name not in ("baseline", "history")]
    assert len(runs) == 1, f"expected one run folder in {results}, found {runs}"
    return runs[0]


def container_figures(summary: dict[str, Any], service: str) -> list[dict[str, Any]]:
    """summary.json's `containers` entries of one service (keyed e.g. `host/c64KiB`)."""
    figures = [f for f in summary["containers"].values() if f["service"] == service]
    assert figures, f"summary.json has no container figures for {service}: {summary['containers']}"
    return figures


def bench_up(project: ComposeProject, **env: str) -> subprocess.CompletedProcess[str]:
    """The documented command: `docker compose up --build --exit-code-from bench bench`."""
    project.env.update(env)
    return project.run("up", "--build", "--exit-code-from", "bench", "bench", check=False)


def test_streaming_stack_stays_under_caps_for_transfers_many_times_larger(
    compose_project: ComposeProject,
) -> None:
    project = compose_project
    port = int(project.env["HOST_PORT"])
    started = time.monotonic()
    project.run("up", "--build", "--detach", "--wait", "host", timeout=900)
    print(f"stack up (build included) in {time.monotonic() - started:.1f}s")

    containers = {s: service_container(project, s) for s in ("plugin", "host")}
    with container_memory.ContainerMemorySampler(containers, interval_s=0.2) as sampler:
        t0 = time.monotonic()
        assert download_exact(port, DOWNLOAD_BYTES) == DOWNLOAD_BYTES
        t1 = time.monotonic()
        answer = upload_exact(port, UPLOAD_BYTES)
        t2 = time.monotonic()
    print(
        f"1 GiB down {DOWNLOAD_BYTES / (t1 - t0) / 1e6:.0f} MB/s, "
        f"1 GiB up {UPLOAD_BYTES / (t2 - t1) / 1e6:.0f} MB/s, "
        f"memory {json.dumps(sampler.report())}"
    )
    assert answer == {"bytes": UPLOAD_BYTES, "sha256": pattern_sha256(UPLOAD_BYTES)}
    for service, figure in sampler.figures.items():
        assert figure.samples >= 3, f"{service}: too few memory samples"
        assert figure.limit_bytes == CAP, f"{service}: cap is {figure.limit_bytes}, not 128m"
        assert not figure.oom_killed and figure.restart_count == 0, f"{service} was killed"
        assert figure.peak_bytes < CAP, f"{service}: peak {figure.peak_bytes} >= cap"

    # The bench in compose (socket override on): exits 0, writes a run folder with
    # container memory for plugin and host.
    results = Path(project.env["RESULTS_DIR"])
    proc = bench_up(project, BENCH_PROFILE=BENCH_PROFILE, BENCH_SCENARIOS="download,upload")
    assert proc.returncode == 0, f"bench exited {proc.returncode}:\n{proc.stdout[-6000:]}"
    summary = json.loads((new_run_dir(results) / "summary.json").read_text())
    assert summary["verdicts_passed"] is True
    for service in ("plugin", "host"):
        for figure in container_figures(summary, service):
            assert figure["limit_bytes"] == CAP
            assert 0 < figure["peak_bytes"] < CAP, f"{service}: {figure}"
            assert figure["oom_killed"] is False


def test_buffering_host_under_the_same_cap_is_oom_killed_and_fails_the_bench(
    compose_project: ComposeProject,
) -> None:
    project = compose_project
    project.env["HOSTSTUB_BUFFERED"] = "true"
    port = int(project.env["HOST_PORT"])
    project.run("up", "--build", "--detach", "--wait", "host", timeout=900)

    # Asking the buffering host for 4x its cap: it must die, and the client must
    # never see a complete 200 with all the bytes.
    received = -1
    try:
        received = download_exact(port, OVER_CAP_BYTES)
    except (AssertionError, OSError, http.client.HTTPException) as exc:
        print(f"download through the buffering host failed as expected: {exc!r}")
    assert received != OVER_CAP_BYTES, "the buffering host delivered 4x its cap: cap not applied"
    host = service_container(project, "host")

    def host_stopped() -> bool:
        host.reload()
        return host.status != "running"

    wait_until(host_stopped, 30, interval=0.5, what="the buffering host to be stopped")
    assert host.attrs["State"]["OOMKilled"] is True, f"host state: {host.attrs['State']}"

    # The bench against this configuration reports a failure, not a pass.
    project.run("up", "--detach", "--wait", "host", timeout=300)  # a fresh buffering host
    results = Path(project.env["RESULTS_DIR"])
    proc = bench_up(
        project,
        BENCH_PROFILE="quick",  # its 256 MiB download is 2x the cap
        BENCH_SCENARIOS="download",
    )
    assert proc.returncode != 0, f"bench passed against a buffering host:\n{proc.stdout[-4000:]}"
    summary_path = new_run_dir(results) / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        assert summary["verdicts_passed"] is not True
        assert any(f["oom_killed"] for f in container_figures(summary, "host"))


def test_container_memory_sampler_reads_a_real_container(docker_engine: None) -> None:
    """parse_memory_stats against the engine's actual stats shape, capped container."""
    client = container_memory.docker_client()
    image = os.environ.get("STREAMBENCH_PYTHON_IMAGE", "streambench/python:local")
    if not client.images.list(name=image):
        pytest.skip(f"{image} not built yet (the compose tests build it)")
    container = client.containers.run(
        image,
        command=["python", "-c", "import time; b = bytearray(40 << 20); time.sleep(30)"],
        mem_limit="96m",
        memswap_limit="96m",
        detach=True,
        labels={container_pair.PAIR_LABEL: "test"},
    )
    try:
        sampler = container_memory.ContainerMemorySampler({"probe": container}, interval_s=0.1)

        def ballast_seen() -> bool:
            sampler.sample_once()
            return sampler.figures["probe"].peak_bytes > 40 * MiB

        wait_until(ballast_seen, 20, interval=0.2, what="the 40 MiB ballast in the stats")
        figure = sampler.stop()["probe"]
        assert figure.limit_bytes == 96 * MiB
        assert 40 * MiB < figure.peak_bytes < 96 * MiB
        assert figure.running and not figure.oom_killed
    finally:
        container.remove(force=True)


def nightly_failure(proc: subprocess.CompletedProcess[str], run_dir: Path) -> str:
    """Why nightly.sh failed: the run's failed verdicts and the regressions first."""
    lines = [f"nightly.sh exited {proc.returncode}"]
    for name, marker in (("summary.md", "**FAIL**"), ("nightly.md", "REGRESSION")):
        path = run_dir / name
        if path.exists():
            lines += [line for line in path.read_text().splitlines() if marker in line]
    return "\n".join([*lines, proc.stderr[-3000:]])


def test_nightly_script_runs_as_the_workflow_calls_it(docker_engine: None, tmp_path: Path) -> None:
    """`bash scripts/nightly.sh` with nothing but what .github/workflows/nightly.yml
    and the runner give it: PATH, HOME, BENCH_PROFILE (smoke: seconds) and
    GITHUB_STEP_SUMMARY. No RESULTS_DIR, no project name, no baseline path: the
    run lands in the checkout's results/ (removed afterwards) and is gated by
    `bench compare` against results/baseline/external-smoke with that baseline's
    own compare-args."""
    client = container_memory.docker_client()
    if container_memory.find_service_containers(client, "host", "streambench"):
        message = "a `streambench` compose stack is up; nightly.sh would tear it down"
        if os.environ.get("STREAMBENCH_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    results = REPO_ROOT / "results"
    before = {p.name for p in results.iterdir()}
    step_summary = tmp_path / "step-summary.md"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "BENCH_PROFILE": "smoke",
        "GITHUB_STEP_SUMMARY": str(step_summary),
    }
    try:
        proc = subprocess.run(
            ["env", "-i", *(f"{k}={v}" for k, v in env.items()), "bash", "scripts/nightly.sh"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        new = sorted(p for p in results.iterdir() if p.name not in before | {"history"})
        assert len(new) == 1 and new[0].is_dir(), (
            f"expected one new run folder, got {new}; nightly.sh said:\n{proc.stderr[-4000:]}"
        )
        run_dir = new[0]
        assert proc.returncode == 0, nightly_failure(proc, run_dir)
        assert (run_dir / "summary.json").exists()
        nightly_md = (run_dir / "nightly.md").read_text()
        assert "streambench nightly: pass" in nightly_md
        assert "no regression" in nightly_md and "comparison skipped" not in nightly_md
        assert "results/baseline/external-smoke" in nightly_md
        assert "streambench nightly: pass" in step_summary.read_text()
        # The trend beside the run: this run and the committed baselines.
        trend = json.loads((results / "history" / "history.json").read_text())["points"]
        assert run_dir.name in {p["run_id"] for p in trend}
        assert "external-smoke" in {p["baseline"] for p in trend}
        assert (results / "history" / "history.md").is_file()
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["environment"]["git_commit"], "the commit is not recorded"
        assert str(summary["environment"].get("host_go_version", "")).startswith("go")
        # The stack is gone afterwards (docker compose down -v).
        assert not container_memory.find_service_containers(client, "host", "streambench")
        # The run is a valid baseline for `bench compare` (itself: no regression).
        compare = subprocess.run(
            [sys.executable, "-m", "bench", "compare", str(run_dir), str(run_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert compare.returncode == 0, compare.stdout + compare.stderr
    finally:
        for path in results.iterdir():
            if path.name not in before:
                shutil.rmtree(path)


def test_compare_gates_a_container_run_that_outgrew_the_baseline(tmp_path: Path) -> None:
    """The gate trips: the committed smoke baseline with container peaks a tenth of
    what was measured makes `bench compare` of that same measured run fail."""
    measured = json.loads((SMOKE_BASELINE / "summary.json").read_text())
    shrunk = json.loads(json.dumps(measured))
    for scenario in shrunk["scenarios"]:
        peaks = scenario.get("container_peak_bytes") or {}
        for name in peaks:
            peaks[name] = peaks[name] / 10
    assert any(s.get("container_peak_bytes") for s in shrunk["scenarios"]), "no container peaks"
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    (baseline / "summary.json").write_text(json.dumps(shrunk))
    compare = subprocess.run(
        [sys.executable, "-m", "bench", "compare", str(baseline), str(SMOKE_BASELINE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert compare.returncode == 1, compare.stdout + compare.stderr
    assert "REGRESSION" in compare.stdout and "container_peak/plugin" in compare.stdout


def test_containerized_chunk_sweep_runs_one_capped_pair_per_setting(
    compose_project: ComposeProject, tmp_path: Path
) -> None:
    """`python -m bench sweep --docker`: the same table as the native sweep, each
    chunk setting in its own 128 MiB-capped plugin/host pair, nothing left behind."""
    compose_project.run("build", timeout=900)  # the pair runs compose's images
    client = container_memory.docker_client()
    sweep = ["sweep", "--docker", "--profile", "smoke", "--chunk-sizes", "65536,1048576"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *sweep, "--results-dir", str(tmp_path / "sweep")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = new_run_dir(tmp_path / "sweep")
    assert (run_dir / "sweep.md").is_file() and (run_dir / "throughput_vs_chunk.png").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {(r["chunk_bytes"], r["kind"]) for r in summary["sweep"]} == {
        (chunk, kind) for chunk in (65536, 1048576) for kind in ("download", "upload")
    }
    for service in ("plugin", "host"):
        figures = container_figures(summary, service)
        assert len(figures) == 2, figures  # one container per chunk setting
        for figure in figures:
            assert figure["limit_bytes"] == CAP and not figure["oom_killed"], figure
    leftovers = client.containers.list(all=True, filters={"label": container_pair.PAIR_LABEL})
    assert not leftovers, [c.name for c in leftovers]
