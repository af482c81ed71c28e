"""Memory budget and admission control, end to end (real host + plugin processes).

Each test starts its own stack with a tiny budget or limit given by flags, so
"many more streams than the budget admits" stays cheap: every transfer must
still complete byte-exact, memory stays bounded (generous margins: the machine
is shared), the queue answers 503 with Retry-After when full or too slow, and
clients that give up while queued leave nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import (
    MiB,
    connect,
    fetch_stats,
    raw_socket,
    read_download,
    rss_growth,
    upload_zeros,
    wait_until,
)

from bench.runner.stack import Stack, run_stack
from plugin_runtime.examples.pattern import PatternVerifier


@pytest.fixture
def stack_with(tmp_path: Path) -> Callable[..., Any]:
    """stack_with(host_args=[...], plugin_args=[...]): a context manager for a fresh stack."""

    def start(**kwargs: Any) -> Any:
        return run_stack(log_dir=tmp_path / "logs", **kwargs)

    return start


class StatsWatcher:
    """Polls /debug/stats on a thread and keeps the largest value of some keys."""

    def __init__(self, stack: Stack, keys: dict[str, tuple[str, str]]) -> None:
        self._stack = stack
        self._keys = keys  # name -> (section, key)
        self.peak: dict[str, int] = dict.fromkeys(keys, 0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            stats = fetch_stats(self._stack)
            for name, (section, key) in self._keys.items():
                self.peak[name] = max(self.peak[name], int(stats[section].get(key, 0)))
            self.samples += 1
            self._stop.wait(0.02)

    def __enter__(self) -> StatsWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def download_exact(stack: Stack, size: int, errors: list[str]) -> None:
    conn, prefix = connect(stack, timeout=120.0)
    try:
        conn.request("GET", f"{prefix}/download?size={size}")
        resp = conn.getresponse()
        got = read_download(resp, PatternVerifier())
        if resp.status != 200 or got != size:
            errors.append(f"download: HTTP {resp.status}, {got} of {size} bytes")
    except Exception as exc:
        errors.append(f"download: {exc!r}")
    finally:
        conn.close()


def run_all(jobs: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a transfer did not finish within 300 s"


def test_host_budget_admits_few_streams_and_all_complete(
    stack_with: Callable[..., Any], record_figure: Callable[[str, float, str], None]
) -> None:
    """8 MiB budget: 2 downloads (3 MiB share each) or 1 upload (6 MiB) at a time;
    32 downloads and 8 uploads of 16 MiB at once all complete byte-exact, the budget
    is never exceeded, the rest wait in the queue, and memory stays bounded."""
    size = 16 * MiB
    with stack_with(host_args=["--budget-bytes", str(8 * MiB)]) as stack:
        host = fetch_stats(stack)["host"]
        assert host["budget_bytes"] == 8 * MiB
        assert host["max_streams"] == 2  # 8 MiB / (2 MiB window + 1 MiB message)
        errors: list[str] = []
        zeros_sha = hashlib.sha256(bytes(size)).hexdigest()

        def upload() -> None:
            status, answer = upload_zeros(stack, size)
            if status != 200 or json.loads(answer) != {"bytes": size, "sha256": zeros_sha}:
                errors.append(f"upload: HTTP {status} {answer[:200]!r}")

        watched = {
            "in_use": ("host", "budget_in_use_bytes"),
            "queued": ("host", "admission_queued"),
            "active": ("host", "admission_active"),
        }
        with rss_growth(stack) as growth, StatsWatcher(stack, watched) as watch:
            run_all([lambda: download_exact(stack, size, errors)] * 32 + [upload] * 8)
        assert not errors, errors[:5]
        record_figure("budget_8MiB_40_streams.host_rss_growth", growth.host / MiB, "MiB")
        record_figure("budget_8MiB_40_streams.plugin_rss_growth", growth.plugin / MiB, "MiB")
        assert watch.samples > 0
        assert 0 < watch.peak["in_use"] <= 8 * MiB, watch.peak
        assert watch.peak["active"] <= 2, watch.peak
        assert watch.peak["queued"] >= 1, watch.peak
        # Two streams' worth plus Go's GC slack and 40 idle connections; a host that
        # held every stream's window would grow by 40 x 3 MiB.
        assert growth.host < 48 * MiB, f"host RSS grew {growth.host / MiB:.1f} MiB"
        assert growth.plugin < 64 * MiB, f"plugin RSS grew {growth.plugin / MiB:.1f} MiB"
        after, _ = wait_until(
            lambda: (
                (h := fetch_stats(stack)["host"])["admission_active"] == 0
                and h["budget_in_use_bytes"] == 0
                and h
            ),
            10.0,
            what="budget and slots free again",
        )
        assert after["admission_rejected_total"] == 0


@contextlib.contextmanager
def hanging_request(stack: Stack) -> Iterator[None]:
    """GET /hang: holds one admitted stream until the block ends (the client leaves)."""
    conn, prefix = connect(stack)
    conn.request("GET", f"{prefix}/hang")
    wait_until(
        lambda: fetch_stats(stack)["plugin"].get("active_handlers") == 1,
        10.0,
        what="the /hang handler to run",
    )
    try:
        yield
    finally:
        conn.close()


def get(stack: Stack, path: str) -> tuple[int, dict[str, str], bytes]:
    conn, prefix = connect(stack, timeout=60.0)
    try:
        conn.request("GET", f"{prefix}{path}")
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_admission_queue_answers_503_with_retry_after(stack_with: Callable[..., Any]) -> None:
    """One slot, a queue of one, 2 s queue timeout: with the slot taken, a second request
    waits; a third finds the queue full and gets 503 at once; the second gets 503 when
    its wait times out. Both carry Retry-After and each gets one log line."""
    host_args = ["--max-streams", "1", "--max-queue", "1", "--queue-timeout", "2s"]
    with stack_with(host_args=[*host_args, "--retry-after", "5s"]) as stack, hanging_request(stack):
        queued: list[tuple[int, dict[str, str], bytes]] = []
        waiter = threading.Thread(target=lambda: queued.append(get(stack, "/download?size=1")))
        waiter.start()
        wait_until(
            lambda: fetch_stats(stack)["host"]["admission_queued"] == 1,
            10.0,
            what="the second request to queue",
        )
        status, headers, body = get(stack, "/download?size=1")
        assert status == 503, body
        assert headers.get("Retry-After") == "5"
        assert b"admission queue full" in body
        waiter.join(timeout=60)
        assert queued, "the queued request never got an answer"
        status, headers, body = queued[0]
        assert status == 503, body
        assert headers.get("Retry-After") == "5"
        assert b"queue timeout" in body
        host = fetch_stats(stack)["host"]
        assert host["admission_rejected_total"] == 2
        assert host["admission_queued"] == 0
    lines = [
        line for line in stack.log_tail("host", 400).splitlines() if "rejected by admission" in line
    ]
    assert len(lines) == 2, lines
    assert all("path=/download" in line and "status=503" in line for line in lines), lines


def test_clients_leaving_the_queue_leave_nothing_behind(stack_with: Callable[..., Any]) -> None:
    """32 clients queue behind a taken slot, then disconnect: the queue empties, the
    host's goroutines return to what they were, and none of them reached the plugin."""
    with (
        stack_with(host_args=["--max-streams", "1", "--queue-timeout", "10m"]) as stack,
        hanging_request(stack),
    ):
        before = fetch_stats(stack)
        sockets: list[socket.socket] = []
        try:
            for _ in range(32):
                sock = raw_socket(stack)
                sock.sendall(b"GET /plugins/bench/download?size=1 HTTP/1.1\r\nHost: x\r\n\r\n")
                sockets.append(sock)
            wait_until(
                lambda: fetch_stats(stack)["host"]["admission_queued"] == 32,
                20.0,
                what="32 queued requests",
            )
        finally:
            for sock in sockets:
                sock.close()
        after, _ = wait_until(
            lambda: (
                (s := fetch_stats(stack))["host"]["admission_queued"] == 0
                and s["host"]["goroutines"] <= before["host"]["goroutines"]
                and s
            ),
            20.0,
            what="queue empty and goroutines back to their count before",
        )
        assert after["host"]["admission_rejected_total"] == 0
        assert after["plugin"]["handlers_total"] == before["plugin"]["handlers_total"]


def test_plugin_send_slots_serve_many_responses_with_full_messages(
    stack_with: Callable[..., Any], record_figure: Callable[[str, float, str], None]
) -> None:
    """A 3 MiB response budget is one send slot at 1 MiB messages: 32 downloads of
    16 MiB at once (the host admits them all) wait their turn, all complete
    byte-exact, and the plugin's memory stays near its idle size."""
    size = 16 * MiB
    with stack_with(
        host_args=["--budget-bytes", str(256 * MiB), "--max-streams", "64"],
        plugin_args=["--response-buffer-bytes", str(3 * MiB)],
    ) as stack:
        plugin = fetch_stats(stack)["plugin"]
        assert plugin["response_send_slots"] == 1
        assert plugin["response_budget_bytes"] == 3 * MiB
        errors: list[str] = []
        watched = {
            "sending": ("plugin", "response_sending"),
            "waiting": ("plugin", "response_waiting"),
            "handlers": ("plugin", "active_handlers"),
        }
        with rss_growth(stack) as growth, StatsWatcher(stack, watched) as watch:
            run_all([lambda: download_exact(stack, size, errors)] * 32)
        assert not errors, errors[:5]
        record_figure("send_slots_1_32_downloads.plugin_rss_growth", growth.plugin / MiB, "MiB")
        assert watch.peak["sending"] <= 1, watch.peak
        assert watch.peak["waiting"] >= 1, watch.peak
        assert watch.peak["handlers"] > 1, watch.peak
        # One message in flight plus 32 idle writers; without the slots each of the
        # 32 responses holds ~5 of its 1 MiB messages (measured 5 MiB per stream).
        assert growth.plugin < 64 * MiB, f"plugin RSS grew {growth.plugin / MiB:.1f} MiB"
