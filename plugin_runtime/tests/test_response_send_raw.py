"""ResponseWriter.send_raw, the fault-injection hook: messages go as given; it owns the stream."""

from __future__ import annotations

import pytest

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.headers import HeadersLockedError
from plugin_runtime.response import ResponseClosedError

from .conftest import writer_with_stream


async def test_messages_go_out_unchanged_and_nothing_is_added() -> None:
    response, stream = writer_with_stream()
    bad_init = pb.ServeHTTPResponse(
        init=pb.ServeHTTPResponseInit(
            status_code=42, headers=[pb.HTTPHeader(key="X-Bad", values=["a\r\nb"])]
        )
    )
    second_init = pb.ServeHTTPResponse(init=pb.ServeHTTPResponseInit(status_code=404))
    no_init = pb.ServeHTTPResponse(body_chunk=b"x" * 100)  # over max_chunk_bytes (8): not split
    for message in (bad_init, second_init, no_init):
        await response.send_raw(message)
    await response.close()  # what the runtime does when the handler returns: nothing here
    assert stream.messages == [bad_init, second_init, no_init]
    assert response.closed and response.committed


async def test_the_sdk_refuses_to_write_after_send_raw() -> None:
    response, stream = writer_with_stream()
    await response.send_raw(pb.ServeHTTPResponse(body_chunk=b"a"))
    with pytest.raises(ResponseClosedError):
        await response.write(b"b")
    with pytest.raises(ResponseClosedError):
        await response.flush()
    with pytest.raises(HeadersLockedError):
        response.headers["X-Late"] = "1"
    assert [m.body_chunk for m in stream.messages] == [b"a"]


async def test_send_raw_after_an_sdk_write_is_refused() -> None:
    response, stream = writer_with_stream()
    await response.write(b"abc")
    with pytest.raises(RuntimeError, match="started through the SDK"):
        await response.send_raw(pb.ServeHTTPResponse(body_chunk=b"raw"))
    await response.close()
    assert stream.body == b"abc" and stream.messages[-1].body_complete
