"""The documented TCP form of the plugin listens on loopback only."""

from __future__ import annotations

import ipaddress

import psutil
from e2e_support import connect

from bench.runner.stack import run_stack


def test_tcp_plugin_listens_on_loopback_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with run_stack(transport="tcp", log_dir=tmp_path) as stack:
        conn, prefix = connect(stack)
        conn.request("GET", f"{prefix}/status?code=200")
        assert conn.getresponse().status == 200
        conn.close()
        listening = [
            c.laddr
            for c in psutil.Process(stack.plugin.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
    assert listening, "plugin has no listening TCP socket"
    assert all(_is_loopback(addr.ip) for addr in listening), listening


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return (mapped or address).is_loopback
