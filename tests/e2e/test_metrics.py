"""GET /metrics on the real host with the real plugin: the text parses with
prometheus_client's parser, names follow the Prometheus conventions, and the
counters move with traffic by exactly the bytes and streams that went through.

One stack serves the module; every test reads the counters before and after
its own traffic, so their order does not matter.
"""

from __future__ import annotations

import http.client
import os
import signal
import urllib.request
from collections.abc import Mapping

import pytest
from e2e_support import MiB, connect, read_download, wait_until
from prometheus_client.parser import text_string_to_metric_families

from bench.runner.stack import Stack, run_stack
from plugin_runtime.examples.pattern import PatternVerifier

OUTCOMES = ("ok", "error", "aborted", "client_gone")
# (sample name, sorted label pairs) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(stack: Stack) -> tuple[str, dict[str, str], Samples]:
    """(raw text, family name -> type, samples) of one GET /metrics."""
    with urllib.request.urlopen(f"{stack.host_url}/metrics", timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, types, samples


def value(samples: Mapping, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def streams_by_outcome(samples: Samples) -> dict[str, float]:
    return {o: value(samples, "streambench_host_streams_total", outcome=o) for o in OUTCOMES}


def wait_for_streams(stack: Stack, before: Samples, expected: Mapping[str, int]) -> Samples:
    """Scrape until the streams counted since `before` are `expected` (a stream is
    counted when the handler returns, which may be just after the client has read
    the response); then no other outcome may have moved."""
    start = streams_by_outcome(before)

    def counted() -> Samples | None:
        samples = scrape(stack)[2]
        now = streams_by_outcome(samples)
        done = all(now[o] - start[o] >= n for o, n in expected.items())
        return samples if done and value(samples, "streambench_host_active_streams") == 0 else None

    after, _ = wait_until(counted, timeout=10, interval=0.02, what=f"streams {expected}")
    moved = {o: streams_by_outcome(after)[o] - start[o] for o in OUTCOMES}
    assert moved == {o: expected.get(o, 0) for o in OUTCOMES}
    return after


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def body_bytes(before: Samples, after: Samples, direction: str) -> float:
    return delta(before, after, "streambench_host_body_bytes_total", direction=direction)


def test_metrics_parse_and_follow_prometheus_naming(stack: Stack) -> None:
    text, types, samples = scrape(stack)
    # prometheus_client names a counter family without its _total suffix.
    expected = {
        "streambench_host_active_streams": "gauge",
        "streambench_host_streams": "counter",
        "streambench_host_body_bytes": "counter",
        "streambench_host_time_to_first_byte_seconds": "histogram",
        "streambench_host_stream_duration_seconds": "histogram",
        "streambench_plugin_up": "gauge",
        "streambench_plugin_resident_memory_bytes": "gauge",
        "streambench_plugin_threads": "gauge",
        "streambench_plugin_open_fds": "gauge",
        "streambench_plugin_active_handlers": "gauge",
        "streambench_plugin_asyncio_tasks": "gauge",
        "streambench_plugin_handlers": "counter",
        "streambench_plugin_handlers_cancelled": "counter",
        "streambench_plugin_handlers_failed": "counter",
        "go_goroutines": "gauge",
        "process_resident_memory_bytes": "gauge",
    }
    for name, kind in expected.items():
        assert types.get(name) == kind, f"{name}: {types.get(name)!r}, want {kind}"
    assert value(samples, "streambench_plugin_up") == 1
    assert value(samples, "streambench_plugin_resident_memory_bytes") > 10 * MiB
    assert value(samples, "process_resident_memory_bytes") > MiB
    # Every counter sample ends in _total in the exposition itself.
    for line in text.splitlines():
        if line.startswith("# TYPE ") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total"), line


def test_download_and_upload_move_the_byte_counters_exactly(stack: Stack) -> None:
    _, _, before = scrape(stack)
    conn, prefix = connect(stack)
    conn.request("GET", f"{prefix}/download?size={MiB}&chunk=65536")
    resp = conn.getresponse()
    assert resp.status == 200
    assert read_download(resp, PatternVerifier()) == MiB
    after_download = wait_for_streams(stack, before, {"ok": 1})
    assert body_bytes(before, after_download, "to_client") == MiB
    assert body_bytes(before, after_download, "to_plugin") == 0
    for histogram in ("time_to_first_byte_seconds", "stream_duration_seconds"):
        name = f"streambench_host_{histogram}_count"
        total = sum(v for (n, _), v in after_download.items() if n == name)
        total -= sum(v for (n, _), v in before.items() if n == name)
        assert total == 1, f"{name} moved by {total}"

    conn.request("POST", f"{prefix}/upload", body=b"\0" * MiB)
    resp = conn.getresponse()
    answer = resp.read()
    conn.close()
    assert resp.status == 200, answer
    after_upload = wait_for_streams(stack, after_download, {"ok": 1})
    assert body_bytes(after_download, after_upload, "to_plugin") == MiB
    assert body_bytes(after_download, after_upload, "to_client") == len(answer)


def test_failures_count_by_outcome_on_both_sides(stack: Stack) -> None:
    _, _, before = scrape(stack)
    conn, prefix = connect(stack)
    conn.request("GET", f"{prefix}/fail?after=0")  # raises before response-init: 500
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 500
    conn.close()
    conn, prefix = connect(stack)
    conn.request("GET", f"{prefix}/fail?after=1000")  # raises mid-body: aborted
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises((http.client.IncompleteRead, http.client.HTTPException, ConnectionError)):
        read_download(resp, PatternVerifier())
    conn.close()
    after = wait_for_streams(stack, before, {"error": 1, "aborted": 1})
    assert delta(before, after, "streambench_plugin_handlers_failed_total") == 2
    assert body_bytes(before, after, "to_client") == 1000


def test_client_gone_cancels_and_is_counted(stack: Stack) -> None:
    _, _, before = scrape(stack)
    conn, prefix = connect(stack)
    conn.request("GET", f"{prefix}/hang")

    def handler_running() -> bool:
        samples = scrape(stack)[2]
        return value(samples, "streambench_plugin_active_handlers") >= 1

    wait_until(handler_running, timeout=10, what="the /hang handler to start")
    conn.close()
    after = wait_for_streams(stack, before, {"client_gone": 1})

    def cancelled() -> bool:
        samples = scrape(stack)[2]
        return delta(before, samples, "streambench_plugin_handlers_cancelled_total") == 1

    wait_until(cancelled, timeout=10, what="the plugin to count the cancelled handler")
    assert value(after, "streambench_host_active_streams") == 0


def test_plugin_down_reads_up_0_and_the_scrape_still_succeeds(tmp_path) -> None:
    with run_stack(log_dir=tmp_path) as own:
        os.kill(own.plugin.pid, signal.SIGKILL)
        own.plugin.wait(timeout=10)

        def plugin_down() -> Samples | None:
            samples = scrape(own)[2]
            return samples if value(samples, "streambench_plugin_up") == 0 else None

        samples, _ = wait_until(plugin_down, timeout=10, what="streambench_plugin_up 0")
        assert ("streambench_plugin_resident_memory_bytes", ()) not in samples
        assert value(samples, "streambench_host_active_streams") == 0
