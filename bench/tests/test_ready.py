"""Poll until ready: one loop for spawned processes and container pairs."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.runner.ready import answers_ok, poll_until_ready
from bench.runner.stack import StackError, free_tcp_port, wait_ready


class WarmingUp:
    """Answers 503 to the first `unready` GETs, then 200."""

    def __init__(self, unready: int) -> None:
        self.unready = unready
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(503 if server.requests <= server.unready else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/healthz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def warming_up() -> Iterator[WarmingUp]:
    server = WarmingUp(unready=3)
    yield server
    server.close()


def test_polls_through_unready_answers_until_200(warming_up: WarmingUp) -> None:
    alive_checks = []
    problem = poll_until_ready(
        warming_up.url, 60.0, interval_s=0.01, check_alive=lambda: alive_checks.append(1)
    )
    assert problem is None
    assert warming_up.requests == 4
    assert len(alive_checks) == 4  # before every attempt


def test_a_dead_server_fails_at_once_not_at_the_deadline(warming_up: WarmingUp) -> None:
    def check_alive() -> None:
        raise RuntimeError("exited before ready")

    with pytest.raises(RuntimeError, match="exited before ready"):
        poll_until_ready(warming_up.url, 60.0, interval_s=0.01, check_alive=check_alive)
    assert warming_up.requests == 0


def test_the_deadline_returns_the_last_problem() -> None:
    url = f"http://127.0.0.1:{free_tcp_port()}/healthz"  # nothing listens
    problem = poll_until_ready(url, 0.0, interval_s=0.01)
    assert problem is not None and "refused" in problem.lower()
    assert answers_ok(url, 1.0) == problem


def test_wait_ready_names_the_process_that_exited() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    url = f"http://127.0.0.1:{free_tcp_port()}/healthz"
    with pytest.raises(StackError, match="exited with 3 before ready"):
        wait_ready(url, [proc], timeout=60.0)
