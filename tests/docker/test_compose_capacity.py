"""`python -m bench capacity` in compose (marker `docker`): the documented
`docker compose run --rm capacity` ramps through the 128m-capped plugin and host
(and the Go peer, capped at the two together),
reads container peaks per level through the Docker SDK, and reports an OOM kill
as the reason a level broke, then starts the killed container again.

Tiny ramps (levels 1, 2, 4 of a few MiB) so the two tests take well under a
minute once the images are built. Skipped without a Docker engine, failed instead
with STREAMBENCH_REQUIRE_DOCKER=1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from compose_support import ComposeProject

from bench import cli

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

MiB = 1024 * 1024
CAP = 128 * MiB


def run_capacity(project: ComposeProject, **env: str) -> tuple[int, str, dict[str, Any]]:
    """Build, then the documented one-off run; (exit status, output, summary.json)."""
    project.env.update(env)
    project.run("build", timeout=900)  # plugin, host and bench: capacity runs the bench image
    proc = project.run("run", "--rm", "-T", "capacity", check=False, timeout=600)
    results = Path(project.env["RESULTS_DIR"])
    runs = [p for p in results.iterdir() if p.is_dir()]
    assert len(runs) == 1, f"expected one run folder, found {runs}\n{proc.stdout[-4000:]}"
    summary = json.loads((runs[0] / "summary.json").read_text())
    return proc.returncode, proc.stdout + proc.stderr, summary


def test_capacity_in_compose_reports_container_peaks_per_level(
    compose_project: ComposeProject,
) -> None:
    code, output, summary = run_capacity(
        compose_project,
        BENCH_PROFILE="smoke",
        BENCH_CAPACITY_LEVELS="1,2,4",
        BENCH_CAPACITY_STREAM_BYTES="4m",
    )
    assert code == 0, output[-6000:]
    assert summary["kind"] == "capacity" and summary["environment"]["mode"] == "external"
    ramps = {r["key"]: r for r in summary["ramps"]}
    assert set(ramps) == {
        f"{target}/{mode}"
        for target in ("bridge", "go-direct", "go-plugin")
        for mode in ("download", "upload", "mixed")
    }
    for mode in ("download", "upload", "mixed"):
        ramp = ramps[f"bridge/{mode}"]
        assert ramp["capacity"] == 4, ramp["reason"]
        for level in ramp["levels"]:
            peaks = {p["name"]: p for p in level["processes"]}
            for name in ("container:plugin", "container:host"):
                assert peaks[name]["source"] == "container", peaks
                assert 0 < peaks[name]["peak_bytes"] < CAP, peaks[name]
            assert {"host", "plugin"} <= set(peaks), "the /debug/stats figures"
            assert level["oom_killed"] == [] and level["errors"] == {}
        # The Go peer, its host and plugin processes in one container capped at the
        # bridge's two caps together.
        peer = ramps[f"go-plugin/{mode}"]
        assert peer["capacity"] == 4, peer["reason"]
        for level in peer["levels"]:
            peaks = {p["name"]: p for p in level["processes"]}
            assert 0 < peaks["container:go-plugin"]["peak_bytes"] < 2 * CAP, peaks
            assert {"go-plugin-host", "go-plugin"} <= set(peaks), "the /debug/stats figures"
            assert level["oom_killed"] == [] and level["errors"] == {}
    # A capacity run is a valid baseline of itself for the nightly gate.
    run_dir = next(p for p in Path(compose_project.env["RESULTS_DIR"]).iterdir())
    assert cli.main(["compare", str(run_dir), str(run_dir)]) == 0


def test_an_oom_kill_stops_the_ramp_with_its_reason_and_the_next_ramp_runs(
    compose_project: ComposeProject,
) -> None:
    """The buffering host (holds whole bodies) under its 128m cap: 8 x 32 MiB downloads
    get it OOM-killed. The ramp must say so; the container is started again for the
    next ramp (go-direct), which holds."""
    compose_project.env["HOSTSTUB_BUFFERED"] = "true"
    code, output, summary = run_capacity(
        compose_project,
        BENCH_PROFILE="smoke",
        BENCH_CAPACITY_LEVELS="1,8",
        BENCH_CAPACITY_STREAM_BYTES="32m",
        BENCH_CAPACITY_MODES="download",
        # Only the kernel's verdict counts here, not the sampled working set.
        BENCH_CAPACITY_MEMORY_CAP="1g",
    )
    assert code == 0, output[-6000:]
    ramps = {r["key"]: r for r in summary["ramps"]}
    bridge = ramps["bridge/download"]
    assert (bridge["capacity"], bridge["stopped_at"]) == (1, 8), bridge["reason"]
    assert "oom-kill: container:host" in bridge["reason"], bridge["reason"]
    assert bridge["levels"][-1]["oom_killed"] == ["container:host"]
    go_direct = ramps["go-direct/download"]
    assert go_direct["capacity"] >= 1, go_direct["reason"]
