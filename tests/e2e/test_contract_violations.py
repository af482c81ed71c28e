"""A plugin that breaks the wire contract, through the host.

Header injection with CR/LF/NUL, a second init, a message after completion, no
completion, an oversize message: each gets a 500 before response-init or an
aborted transfer after it, and a host log line naming the plugin and the reason;
nothing is left running afterwards and the host keeps serving.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from e2e_support import ABORTED_TRANSFER, DEADLINE_S, connect, plugin_idle, wait_until

from bench.runner.stack import Stack, run_stack
from plugin_runtime.examples.misbehaving import CASES, COMMITS_FIRST

MISBEHAVING_APP = "plugin_runtime.examples.misbehaving:app"


@pytest.fixture(scope="module")
def rogue_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("rogue-logs")
    # The host's smallest allowed message limit (>= --request-chunk-bytes), so the
    # /oversize case stays cheap.
    with run_stack(
        app=MISBEHAVING_APP,
        plugin_id="rogue",
        host_args=["--max-message-bytes=65536"],
        log_dir=logs,
    ) as running:
        yield running


REASONS = {
    "header-crlf-value": "invalid response header",
    "header-lf-value": "invalid response header",
    "header-nul-value": "invalid response header",
    "header-cr-name": "invalid response header",
    "second-init": "second response-init",
    "after-complete": "message after body_complete",
    "no-complete": "without body_complete",
    "oversize": "larger than max-message-bytes",
    # This host has no files root (tests/e2e/test_file_offload.py has one).
    "sendfile": "X-Sendfile while file offload is off",
    "sendfile-with-body": "X-Sendfile while file offload is off",
}


def test_every_misbehaviour_has_an_expected_reason() -> None:
    assert set(REASONS) == set(CASES)


def _host_log_lines(stack: Stack, path: str) -> list[str]:
    text = (stack.log_dir / "host.log").read_text(errors="replace")
    return [line for line in text.splitlines() if re.search(rf"path={re.escape(path)}\b", line)]


@pytest.mark.parametrize("case", sorted(REASONS))
def test_misbehaving_plugin_gets_500_or_abort_and_a_log_line(rogue_stack: Stack, case: str) -> None:
    conn, prefix = connect(rogue_stack, timeout=10.0)
    conn.request("GET", f"{prefix}/{case}")
    if case in COMMITS_FIRST:
        # The status was committed before the mistake: only an abort is honest (the
        # client may or may not have the status line and some bytes when it is cut).
        with pytest.raises(ABORTED_TRANSFER):
            conn.getresponse().read()
    else:
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 500, (resp.status, body[:200])
        assert b"body" not in body and b"ooo" not in body, body[:200]
        # Nothing the plugin put in its headers reaches the client (no injection).
        assert resp.getheader("X-Fine") is None and resp.getheader("X-Injected") is None
        assert "evil" not in str(resp.getheaders())
    conn.close()

    def logged() -> list[str]:
        return [
            line
            for line in _host_log_lines(rogue_stack, f"/{case}")
            if "plugin_id=rogue" in line and REASONS[case] in line
        ]

    wait_until(logged, DEADLINE_S, what=f"host log line naming plugin rogue and {REASONS[case]!r}")
    wait_until(lambda: plugin_idle(rogue_stack), DEADLINE_S, what="no stream or handler left")
    assert rogue_stack.host.poll() is None, "host died"


def test_host_keeps_serving_after_misbehaviour(rogue_stack: Stack) -> None:
    conn, prefix = connect(rogue_stack)
    conn.request("GET", f"{prefix}/no-such-case")
    resp = conn.getresponse()
    assert resp.status == 404 and b"unknown case" in resp.read()
    conn.close()
    assert "panic" not in (rogue_stack.log_dir / "host.log").read_text(errors="replace")
