"""The compose `monitoring` profile for real (marker `docker`): Prometheus
comes up beside the stack, reports the host's /metrics target up through its
HTTP API, and has the series of traffic that went through the host.

Skipped when no Docker engine answers, failed instead with
STREAMBENCH_REQUIRE_DOCKER=1 (.ci/run)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest
from compose_support import ComposeProject

from bench.core.polling import WaitTimeout, wait_until
from bench.runner.stack import free_tcp_port

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]
# How long Prometheus may take to start and scrape what a test needs (bounds a failure only).
SCRAPE_WAIT_S = 120.0


def prometheus_api(port: int, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    url = f"http://127.0.0.1:{port}/api/v1/{path}{query}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    return body["data"]


def test_prometheus_scrapes_the_host_and_sees_traffic(compose_project: ComposeProject) -> None:
    project = compose_project
    port = free_tcp_port()
    project.env["PROMETHEUS_PORT"] = str(port)
    host_port = int(project.env["HOST_PORT"])
    project.run("--profile", "monitoring", "up", "--build", "--detach", "prometheus", timeout=900)
    try:

        def host_target_up() -> dict[str, Any] | None:
            targets = prometheus_api(port, "targets")["activeTargets"]
            up = [t for t in targets if t["labels"]["job"] == "streambench-host"]
            return up[0] if up and up[0]["health"] == "up" else None

        # Prometheus starts, then scrapes; OSError is "not listening yet".
        target, _ = wait_until(
            host_target_up,
            SCRAPE_WAIT_S,
            interval=1,
            what="the host target up",
            retry_on=(OSError,),
        )
        assert target["scrapeUrl"] == "http://host:8065/metrics"

        size = 1 << 20
        url = f"http://127.0.0.1:{host_port}/plugins/bench/download?size={size}"
        with urllib.request.urlopen(url, timeout=60) as resp:
            assert len(resp.read()) == size

        def bytes_seen() -> float:
            query = 'streambench_host_body_bytes_total{direction="to_client"}'
            result = prometheus_api(port, "query", query=query)["result"]
            return float(result[0]["value"][1]) if result else 0.0

        wait_until(
            lambda: bytes_seen() >= size,
            SCRAPE_WAIT_S,
            interval=1,
            what="the download in the scraped series",
            retry_on=(OSError,),
        )
        plugin_up = prometheus_api(port, "query", query="streambench_plugin_up")["result"]
        assert plugin_up and plugin_up[0]["value"][1] == "1", plugin_up
    except (AssertionError, WaitTimeout):
        print(project.run("--profile", "monitoring", "logs", "--tail", "40", check=False).stdout)
        raise
    finally:
        project.run("--profile", "monitoring", "down", "-v", check=False, timeout=120)
