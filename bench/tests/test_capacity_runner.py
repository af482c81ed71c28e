"""The level runner and the N-streams runner against a local fake server: every failure
lands in its error kind, and a level's memory comes from /debug/stats when the bench has
no PIDs."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from bench.capacity.command import _revive
from bench.capacity.level import LevelRunner, containers_down
from bench.capacity.ramp import breaches
from bench.core.targets import HOST_SIDES, Target
from bench.load.streams import StreamPlan, run_streams
from bench.observe.samplers import Sampler
from bench.results.capacity import DOWNLOAD, UPLOAD, Limits
from bench.tests.conftest import FakeHost

MiB = 1024 * 1024


def plan(base_url: str, download_path: str, size: int, timeout_s: float = 10.0) -> StreamPlan:
    # Running services: no PIDs, their /debug/stats reports host and plugin.
    target = Target(
        "fake", base_url, {}, dict(HOST_SIDES), download_path=download_path, upload_path="/upload"
    )
    return StreamPlan(target, size, 65536, timeout_s)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize(
    ("path", "size", "kind"),
    [
        ("/chunked", 300_000, None),  # a whole, correct chunked body
        ("/chunked-truncated", 300_000, "truncated"),  # closed before the last chunk
        ("/wrong", 1024, "corrupt"),  # byte 700 is not the pattern
        ("/missing", 1024, "404"),
    ],
)
def test_download_failures_are_classified(
    fake_host: FakeHost, path: str, size: int, kind: str | None
) -> None:
    seconds, outcomes = run_streams(plan(fake_host.url, path, size), [DOWNLOAD, DOWNLOAD])
    assert seconds > 0 and len(outcomes) == 2
    for outcome in outcomes:
        assert outcome.error == kind, outcome
        if kind is None:
            assert outcome.bytes == size and len(outcome.ttfbs_s) == 1


def test_upload_to_a_server_that_refuses_it_is_its_status(fake_host: FakeHost) -> None:
    _, (outcome,) = run_streams(plan(fake_host.url, "/chunked", 4096), [UPLOAD])
    assert outcome.error == "501" and outcome.direction == UPLOAD, outcome


def test_a_server_that_never_answers_is_a_timeout(silent_server: str) -> None:
    _, outcomes = run_streams(plan(silent_server, "/x", 1024, timeout_s=0.3), [DOWNLOAD] * 3)
    assert [o.error for o in outcomes] == ["timeout"] * 3


def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connect is refused
        _, (outcome,) = run_streams(plan(f"http://127.0.0.1:{port}", "/x", 1), [DOWNLOAD])
    assert outcome.error == "connection" and "Refused" in outcome.detail


def test_level_of_running_services_reads_memory_from_debug_stats(fake_host: FakeHost) -> None:
    """No PIDs (compose): host and plugin peaks come from /debug/stats; a plugin over
    the cap breaks the level, and so does a failed stream."""
    fake_host.stats["plugin"]["rss_bytes"] = 200 * MiB
    with Sampler(stats_url=f"{fake_host.url}/debug/stats", include_loadgen=True) as sampler:
        runner = LevelRunner(sampler, plan(fake_host.url, "/chunked", 300_000), DOWNLOAD)
        level = runner(2)
        failing = LevelRunner(sampler, plan(fake_host.url, "/missing", 1024), DOWNLOAD)(2)
    peaks = {p.name: p for p in level.processes}
    assert set(peaks) == {"host", "plugin"}
    assert peaks["host"].source == "stats" and peaks["host"].peak_bytes == 20 * MiB
    assert level.streams_ok == 2 and level.errors == {} and level.exited == []
    limits = Limits(memory_cap_bytes=128 * MiB, ttfb_slo_s=5.0)
    assert [b.split(":")[0] for b in breaches(level, limits)] == ["memory"]
    assert failing.errors == {"404": 2}
    assert any(b.startswith("errors: 2 of 2") for b in breaches(failing, limits))


class FakeContainer:
    """The two attributes of a docker SDK Container that containers_down reads."""

    def __init__(self, name: str, running: bool, oom: bool = False, exit_code: int = 0) -> None:
        self.name = name
        self.attrs = {
            "State": {"Running": running, "OOMKilled": oom, "ExitCode": exit_code},
            "RestartCount": 0,
        }

    def reload(self) -> None:
        pass


@pytest.mark.parametrize(
    ("container", "killed", "stopped"),
    [
        (FakeContainer("p", running=True), [], []),
        (FakeContainer("p", running=True, oom=True), [], []),  # a stale flag of a past kill
        (FakeContainer("p", running=False, oom=True, exit_code=137), ["container:plugin"], []),
        (FakeContainer("p", running=False, exit_code=137), ["container:plugin"], []),
        (FakeContainer("p", running=False, exit_code=1), [], ["container:plugin"]),
    ],
)
def test_containers_down_counts_only_containers_that_are_down(
    container: FakeContainer, killed: list[str], stopped: list[str]
) -> None:
    assert containers_down({"plugin": container}) == (killed, stopped)


class LaggingContainer(FakeContainer):
    """A container the engine still reports running for a few reloads after its kill."""

    def __init__(self, reloads_until_down: int) -> None:
        super().__init__("p", running=True)
        self.reloads_left = reloads_until_down

    def reload(self) -> None:
        self.reloads_left -= 1
        if self.reloads_left <= 0:
            self.attrs["State"] = {"Running": False, "OOMKilled": True, "ExitCode": 137}


def test_containers_down_waits_for_the_engine_to_record_a_kill() -> None:
    lagging = LaggingContainer(reloads_until_down=3)
    assert containers_down({"host": lagging}) == ([], [])  # one reading: still "running"
    lagging = LaggingContainer(reloads_until_down=3)
    assert containers_down({"host": lagging}, settle_s=30.0, poll_s=0.01) == (
        ["container:host"],
        [],
    )


def test_containers_down_gives_up_when_every_container_stays_up() -> None:
    up = FakeContainer("p", running=True)
    assert containers_down({"plugin": up}, settle_s=0.05, poll_s=0.01) == ([], [])


class ServiceContainer:
    """A container whose service answers /healthz 200 once it was (re)started."""

    def __init__(self, name: str, status: str, healthy: bool) -> None:
        self.name, self.status, self.healthy = name, status, healthy
        self.actions: list[str] = []

    def reload(self) -> None:
        pass

    def start(self) -> None:
        self.actions.append("start")
        self.status, self.healthy = "running", True

    def restart(self) -> None:
        self.actions.append("restart")
        self.healthy = True


@pytest.fixture
def health_server() -> Iterator[tuple[str, dict[str, ServiceContainer]]]:
    """/<service>/healthz answers as the service's container says."""
    containers: dict[str, ServiceContainer] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            service = self.path.strip("/").split("/")[0]
            self.send_response(200 if containers[service].healthy else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", containers
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_revive_starts_stopped_containers_and_restarts_unhealthy_ones(
    health_server: tuple[str, dict[str, ServiceContainer]],
) -> None:
    url, containers = health_server
    containers.update(
        {
            "host": ServiceContainer("host-1", "running", healthy=True),
            "plugin": ServiceContainer("plugin-1", "exited", healthy=False),  # OOM-killed
            "go-plugin": ServiceContainer("go-plugin-1", "running", healthy=False),  # child died
        }
    )
    _revive(dict(containers), {"host": f"{url}/host", "go-plugin": f"{url}/go-plugin"})
    assert containers["host"].actions == []
    assert containers["plugin"].actions == ["start"]
    assert containers["go-plugin"].actions == ["restart"]
