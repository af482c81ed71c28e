"""The Go peer end to end: bin/gopluginhost with its child bin/goplugin on the legacy
plugin RPC, driven the way the bench drives it (http.client, streamed bodies).

Each test checks what a client sees: bytes exact, a correct upload digest, a clear
status for bad input, stats with both processes, and a crash of the plugin that cuts
a transfer instead of ending it as if it were complete.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
from e2e_support import ABORTED_TRANSFER, DEADLINE_S, KiB, MiB, read_download, wait_until

from bench.core.paths import GOPLUGINHOST_BIN
from bench.observe.samplers import StatsClient
from bench.runner.stack import free_tcp_port, stop_process, wait_ready
from plugin_runtime.examples.pattern import PatternVerifier, pattern_chunks, pattern_sha256

pytestmark = pytest.mark.skipif(
    not GOPLUGINHOST_BIN.exists(), reason=f"{GOPLUGINHOST_BIN} not built (scripts/setup.sh)"
)

PREFIX = "/plugins/bench"


@dataclass
class GoPluginHost:
    """A running gopluginhost (its plugin is its child)."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def connect(self, timeout: float = DEADLINE_S) -> http.client.HTTPConnection:
        parts = urlsplit(self.url)
        return http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=timeout
        )

    def stats(self) -> dict[str, Any]:
        client = StatsClient(f"{self.url}/debug/stats")
        try:
            return client.fetch()
        finally:
            client.close()

    def status(self, path: str) -> int:
        conn = self.connect()
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def plugin_pid(self) -> int:
        return int(self.stats()["plugin"]["pid"])


@contextlib.contextmanager
def go_plugin_host(log_dir: Path) -> Iterator[GoPluginHost]:
    port = free_tcp_port()
    log = log_dir / "gopluginhost.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(GOPLUGINHOST_BIN), "--listen", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    host = GoPluginHost(f"http://127.0.0.1:{port}", proc, log)
    try:
        wait_ready(f"{host.url}/healthz", [proc])
        yield host
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def go_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoPluginHost]:
    with go_plugin_host(tmp_path_factory.mktemp("go-plugin")) as host:
        yield host


@pytest.fixture
def own_go_host(tmp_path: Path) -> Iterator[GoPluginHost]:
    """A host for one test that kills its plugin."""
    with go_plugin_host(tmp_path) as host:
        yield host


def idle(host: GoPluginHost) -> bool:
    stats = host.stats()
    return stats["host"]["active_streams"] == 0 and stats["plugin"]["active_handlers"] == 0


@pytest.mark.parametrize(("size", "chunk"), [(8 * MiB + 3, 64 * KiB), (1 * MiB, 1000)])
def test_download_is_byte_exact(go_host: GoPluginHost, size: int, chunk: int) -> None:
    conn = go_host.connect()
    conn.request("GET", f"{PREFIX}/download?size={size}&chunk={chunk}")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Length") == str(size)
    assert resp.getheader("Content-Type") == "application/octet-stream"
    verifier = PatternVerifier()
    assert read_download(resp, verifier) == size
    conn.close()


@pytest.mark.parametrize("hashed", [True, False])
def test_upload_answers_its_length_and_sha256(go_host: GoPluginHost, hashed: bool) -> None:
    size = 16 * MiB + 5
    conn = go_host.connect()
    conn.request(
        "POST",
        f"{PREFIX}/upload" + ("" if hashed else "?hash=none"),
        body=pattern_chunks(size, 256 * KiB),
        headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
    )
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    assert resp.status == 200
    assert answer == {"bytes": size, "sha256": pattern_sha256(size) if hashed else None}


def test_small_get(go_host: GoPluginHost) -> None:
    conn = go_host.connect()
    for _ in range(20):  # one keep-alive connection, as the bench's small scenario
        conn.request("GET", f"{PREFIX}/download?size=1024&chunk=1024")
        resp = conn.getresponse()
        assert resp.status == 200
        verifier = PatternVerifier()
        verifier.update(memoryview(resp.read()))
        assert verifier.offset == 1024
    conn.close()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"{PREFIX}/download?size=abc", 400),
        (f"{PREFIX}/download?size=1&chunk=0", 400),
        (f"{PREFIX}/nothing-here", 404),
    ],
)
def test_bad_input_gets_a_json_error(go_host: GoPluginHost, path: str, status: int) -> None:
    conn = go_host.connect()
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == status
    assert resp.getheader("Content-Type") == "application/json"
    assert json.loads(body)["error"]


def test_stats_report_both_processes(go_host: GoPluginHost) -> None:
    stats = go_host.stats()
    host, plugin = stats["host"], stats["plugin"]
    for side in (host, plugin):
        for key in ("pid", "rss_bytes", "cpu_seconds", "goroutines", "heap_inuse_bytes"):
            assert isinstance(side[key], int | float), (key, side)
        assert side["rss_bytes"] > 0
    for key in ("active_streams", "streams_total", "go_version"):
        assert key in host
    assert host["pid"] == go_host.proc.pid
    assert plugin["pid"] != host["pid"]
    # go-plugin's way: the plugin runs as the host's child.
    assert psutil.Process(plugin["pid"]).ppid() == host["pid"]


def test_client_gone_mid_download_stops_the_plugin(go_host: GoPluginHost) -> None:
    before = go_host.stats()
    conn = go_host.connect()
    conn.request("GET", f"{PREFIX}/download?size={1024 * MiB}&chunk={64 * KiB}")
    resp = conn.getresponse()
    assert resp.status == 200
    resp.read(MiB)
    conn.close()  # the client goes with ~1 GiB still to come
    wait_until(lambda: idle(go_host), DEADLINE_S, what="host and plugin idle after the client left")
    after = go_host.stats()
    # The handler stopped writing: its goroutines and the broker streams are gone.
    assert after["plugin"]["goroutines"] <= before["plugin"]["goroutines"] + 2, (before, after)
    assert after["host"]["goroutines"] <= before["host"]["goroutines"] + 2, (before, after)


def test_plugin_killed_mid_download_cuts_the_transfer(own_go_host: GoPluginHost) -> None:
    size = 1024 * MiB  # cannot finish from what is in flight when the plugin dies
    pid = own_go_host.plugin_pid()
    conn = own_go_host.connect(timeout=10.0)
    conn.request("GET", f"{PREFIX}/download?size={size}&chunk={64 * KiB}")
    resp = conn.getresponse()
    assert resp.status == 200
    verifier = PatternVerifier()
    verifier.update(memoryview(resp.read(MiB)))
    psutil.Process(pid).send_signal(signal.SIGKILL)
    with pytest.raises(ABORTED_TRANSFER):
        read_download(resp, verifier)
    conn.close()
    assert verifier.offset < size
    wait_until(
        lambda: own_go_host.status("/healthz") == 503, DEADLINE_S, what="/healthz 503 after kill"
    )
    # Before any status: a clear 5xx, at once.
    assert own_go_host.status(f"{PREFIX}/download?size=10") == 502
    assert "plugin request failed" in own_go_host.log.read_text(errors="replace")


def test_plugin_killed_mid_upload_fails_the_request(own_go_host: GoPluginHost) -> None:
    pid = own_go_host.plugin_pid()
    conn = own_go_host.connect(timeout=10.0)
    size = 1024 * MiB
    conn.putrequest("POST", f"{PREFIX}/upload")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    sock = conn.sock
    assert sock is not None
    sent = 0
    try:
        for piece in pattern_chunks(size, MiB):
            sock.sendall(piece)
            sent += len(piece)
            if sent == 8 * MiB:
                psutil.Process(pid).send_signal(signal.SIGKILL)
    except OSError:
        pass  # the host stopped reading and closed: the request failed, as required
    try:
        resp = conn.getresponse()
        body = resp.read()
    except ABORTED_TRANSFER:
        pass
    else:
        assert resp.status >= 500, f"upload to a dead plugin answered {resp.status}: {body!r}"
    finally:
        conn.close()
