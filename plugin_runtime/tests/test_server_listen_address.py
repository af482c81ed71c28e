"""A TCP listen address other than loopback is warned about: the plugin trusts every caller."""

from __future__ import annotations

import logging

import pytest

from plugin_runtime import Request, ResponseWriter
from plugin_runtime.server import PluginServer


async def upload(request: Request, response: ResponseWriter) -> None:
    await response.write(b"never called: these tests only start and stop the server")


@pytest.mark.parametrize(
    ("listen", "warned"),
    [("127.0.0.1:0", False), ("[::1]:0", False), ("localhost:0", False), ("0.0.0.0:0", True)],
)
async def test_non_loopback_tcp_listen_is_warned_about(
    listen: str, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    server = PluginServer(upload, listen)
    with caplog.at_level(logging.WARNING, logger="plugin_runtime"):
        await server.start()
    try:
        assert server.bound_port > 0
        warnings = [r.getMessage() for r in caplog.records if "not a loopback" in r.getMessage()]
        assert bool(warnings) is warned, warnings
    finally:
        await server.stop(grace=0)
