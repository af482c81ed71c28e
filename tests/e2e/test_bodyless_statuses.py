"""Statuses that forbid a body (204, 304), answered by a plugin that writes one anyway.

The demo's `/status?code=N` always writes `status N\\n` after `write_header(N)`: the
host delivers the status and headers, drops those bytes with one warning line per
response (plugin id, path, status, bytes dropped) and keeps the keep-alive
connection serving the next request.
"""

from __future__ import annotations

import re

import pytest
from e2e_support import connect, wait_until

from bench.runner.stack import Stack

WARNING = "plugin wrote a body for a status that forbids one"


def host_log(stack: Stack) -> str:
    return (stack.log_dir / "host.log").read_text(errors="replace")


def drop_warnings(stack: Stack, code: int) -> list[str]:
    return [
        line
        for line in host_log(stack).splitlines()
        if WARNING in line and f" status={code} " in line and "path=/status" in line
    ]


@pytest.mark.parametrize("code", [204, 304])
def test_status_without_body_is_delivered_and_connection_reused(stack: Stack, code: int) -> None:
    before = len(drop_warnings(stack, code))
    conn, prefix = connect(stack, timeout=10.0)
    try:
        conn.request("GET", f"{prefix}/status?code={code}")
        resp = conn.getresponse()
        assert resp.status == code
        assert resp.read() == b""
        sock = conn.sock
        assert sock is not None, "the host closed the connection after the status"

        # The same keep-alive connection serves the next request.
        conn.request("GET", f"{prefix}/status?code=200")
        again = conn.getresponse()
        assert again.status == 200
        assert again.read() == b"status 200\n"
        assert conn.sock is sock, "http.client had to reconnect: the connection was not kept"
    finally:
        conn.close()

    # One warning for the one response (the handler logs as it returns).
    lines, _ = wait_until(
        lambda: drop_warnings(stack, code)[before:] or None, 10.0, what="the drop warning"
    )
    assert len(lines) == 1, lines
    line = lines[0]
    dropped = len(f"status {code}\n")
    assert "level=WARN" in line and f"plugin_id={stack.plugin_id}" in line, line
    assert re.search(rf"\bdropped_bytes={dropped}\b", line), line
    # The stack is this module's own: no request of it may have failed.
    assert "plugin request failed" not in host_log(stack), host_log(stack)
