"""Small-request throughput: req/s and CPU per request on synthetic data, both load
generators against a tiny local server, the report section and the compare gate."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench.core.targets import Target
from bench.judge import compare, references
from bench.load import rps
from bench.load.client import TransferError
from bench.report import markdown
from bench.results.run import RunSummary, ScenarioRow
from bench.scenarios.base import ScenarioResult
from bench.scenarios.latency import Rps
from plugin_runtime.examples.pattern import pattern_block

BODY = pattern_block(1024)


def test_requests_per_second() -> None:
    assert rps.requests_per_second(3000, 1.5) == 2000
    assert rps.requests_per_second(0, 0.0) == 0.0
    with pytest.raises(ValueError):
        rps.requests_per_second(-1, 1.0)


def test_cpu_per_request_from_two_readings() -> None:
    before = {"host": 10.0, "plugin": 20.0}
    after = {"host": 10.5, "plugin": 21.0}
    got = rps.cpu_per_request_us(before, after, ["host", "plugin", "gone"], 10_000)
    assert got == pytest.approx({"host": 50.0, "plugin": 100.0})
    assert rps.cpu_per_request_us(before, after, ["host"], 0) == {}


def test_latency_percentiles_of_a_load_run() -> None:
    # 1..1000 ms: nearest-rank p50 = 500 ms, p99 = 990 ms.
    result = ScenarioResult(
        Rps(target="bridge", chunk=65536, size=1024, concurrency=32),
        Target("bridge", "http://x"),
        latencies_s=[i / 1000 for i in range(1000, 0, -1)],
    )
    latency = result.latency_ms()
    assert latency is not None
    assert latency["p50"] == pytest.approx(500.0)
    assert latency["p99"] == pytest.approx(990.0)
    assert latency["count"] == 1000


def test_loadgen_output_parsed_and_rejected() -> None:
    text = json.dumps(
        {
            "connections": 32,
            "warmup_requests": 100,
            "requests": 4000,
            "errors": 0,
            "seconds": 2.0,
            "client_cpu_seconds": 0.5,
            "latencies_us": [1000, 3000],
        }
    )
    got = rps.parse_loadgen_output(text)
    assert got.requests_per_s == 2000
    assert got.client_cpu_cores == 0.25
    assert got.latencies_s == [0.001, 0.003]
    assert got.warmup_requests == 100 and got.first_error is None
    with pytest.raises(TransferError, match="unreadable"):
        rps.parse_loadgen_output('{"requests": 1}')
    with pytest.raises(TransferError, match="unreadable"):
        rps.parse_loadgen_output("loadgen: boom")


@pytest.fixture
def small_server() -> Iterator[str]:
    """GET /download answers 1 KiB on keep-alive connections; /short answers 10 bytes."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = BODY if self.path.startswith("/download") else BODY[:10]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client closing its keep-alive connection at the end is not an error

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _readings() -> Any:
    counter = iter([{"server": 1.0}, {"server": 1.5}])
    return lambda: next(counter)


@pytest.mark.parametrize("generator", [rps.GO_GENERATOR, rps.PYTHON_GENERATOR])
def test_a_real_load_run(small_server: str, generator: str) -> None:
    binary = rps.LOADGEN_BIN if generator == rps.GO_GENERATOR else Path("/nonexistent/loadgen")
    if generator == rps.GO_GENERATOR and not binary.is_file():
        pytest.skip(f"{binary} not built (scripts/setup.sh)")
    load, extra = rps.measure(
        small_server,
        "/download?size=1024",
        connections=2,
        seconds=0.5,
        warmup_s=0.2,
        expect_bytes=1024,
        processes=["server"],
        read_processes=_readings(),
        binary=binary,
    )
    assert extra["generator"] == generator
    assert load.errors == 0 and load.requests > 0
    assert len(load.latencies_s) == load.requests
    assert extra["requests_per_s"] == pytest.approx(load.requests / load.seconds)
    served = load.requests + load.warmup_requests
    assert extra["cpu_us_per_request"]["server"] == pytest.approx(0.5 / served * 1e6)


@pytest.mark.parametrize("generator", [rps.GO_GENERATOR, rps.PYTHON_GENERATOR])
def test_wrong_body_lengths_are_errors(small_server: str, generator: str) -> None:
    binary = rps.LOADGEN_BIN if generator == rps.GO_GENERATOR else Path("/nonexistent/loadgen")
    if generator == rps.GO_GENERATOR and not binary.is_file():
        pytest.skip(f"{binary} not built (scripts/setup.sh)")
    load = rps.run_load(small_server, "/short", 2, 0.2, 0.0, 1024, binary)
    assert load.requests == 0 and load.errors > 0
    assert load.first_error is not None and "10" in load.first_error


def rps_row(target: str, req_s: float, p99: float, ok: bool = True) -> dict[str, Any]:
    return {
        "id": f"rps/{target}/1KiB/x32/c1MiB",
        "kind": "rps",
        "target": target,
        "size_bytes": 1024,
        "chunk_bytes": 1024 * 1024,
        "ok": ok,
        "error": None if ok else "boom",
        "throughput_mb_s": None,
        "latency_ms": {"p50": p99 / 3, "p99": p99},
        "rss_growth_bytes": {},
        "container_peak_bytes": {},
        "extra": {
            "requests_per_s": req_s,
            "generator": "go-loadgen",
            "client_cpu_cores": 0.3,
            "cpu_us_per_request": {"host": 40.0, "plugin": 120.0},
        },
    }


def rps_summary(bridge: float, direct: float, uvicorn: float, p99: float) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "scenarios": [
            rps_row("bridge", bridge, p99),
            rps_row("go-direct", direct, 2.0),
            rps_row("python-direct", uvicorn, 5.0),
        ],
        "verdicts": [],
    }


def test_references_and_report_show_requests_per_second() -> None:
    rows = [ScenarioRow.from_json(r) for r in rps_summary(4000, 20000, 5000, 9.0)["scenarios"]]
    (ref,) = [r.to_json() for r in references.reference_ratios(rows)]
    assert ref["unit"] == "req/s"
    assert ref["bridge_ratio_to"]["python-direct"] == pytest.approx(0.8)
    table = markdown.rps_markdown(rows)
    assert "| rps/bridge/1KiB/x32/c1MiB | ok | 4000 | 3.00 | 9.00 | host 40, plugin 120 |" in table


def _checks(base: dict[str, Any], cur: dict[str, Any]) -> dict[str, compare.Check]:
    result = compare.compare(RunSummary.from_json(base), RunSummary.from_json(cur))
    return {c.metric: c for c in result.checks if c.scenario.startswith("rps/bridge/")}


def test_compare_gates_requests_per_second_against_go_direct() -> None:
    base = rps_summary(4000, 20000, 5000, 9.0)
    # The whole machine is half as fast: same ratio to go-direct, no regression.
    slower = _checks(base, rps_summary(2000, 10000, 2500, 9.0))
    assert slower["req_s/go-direct"].status == "ok"
    # The bridge alone lost 40 %: a regression.
    worse = _checks(base, rps_summary(2400, 20000, 5000, 9.0))
    assert worse["req_s/go-direct"].status == "REGRESSION"


def test_compare_gates_p99_with_fraction_and_slack() -> None:
    base = rps_summary(4000, 20000, 5000, 10.0)
    assert _checks(base, rps_summary(4000, 20000, 5000, 16.0))["p99_ms"].status == "ok"
    assert _checks(base, rps_summary(4000, 20000, 5000, 18.0))["p99_ms"].status == "REGRESSION"


def test_compare_without_go_direct_uses_raw_requests_per_second() -> None:
    base = rps_summary(4000, 20000, 5000, 9.0)
    base["scenarios"] = base["scenarios"][:1]
    cur = rps_summary(2000, 20000, 5000, 9.0)
    assert _checks(base, cur)["req_s"].status == "REGRESSION"
