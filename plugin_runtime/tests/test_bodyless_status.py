"""A body written after a status that forbids one (204, 304) is still sent to the host.

The runtime does not second-guess the plugin: like upstream's Go ResponseWriter over
RPC, it forwards status and bytes, and the host (net/http's rules) delivers the
status and drops the bytes with a warning. Dropping or raising here would hide the
plugin's bug from the host's log and break the demo's /status route.
"""

from __future__ import annotations

import pytest

from .conftest import writer_with_stream


@pytest.mark.parametrize("status", [204, 304])
async def test_body_after_bodiless_status_is_forwarded(status: int) -> None:
    writer, stream = writer_with_stream(max_chunk_bytes=4)
    writer.write_header(status)
    await writer.write(b"status body")
    await writer.close()
    assert stream.messages[0].init.status_code == status
    assert stream.body == b"status body"
    assert stream.messages[-1].body_complete
    assert sum(m.HasField("init") for m in stream.messages) == 1
