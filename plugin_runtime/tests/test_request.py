"""Request metadata, body iteration and read(n), pulled from the stream on demand."""

from __future__ import annotations

import pytest

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.headers import HeadersLockedError
from plugin_runtime.request import BodyTruncatedError, ProtocolError, Request
from plugin_runtime.wire import RequestMessage

from .conftest import request_from


async def test_metadata_from_init() -> None:
    request, _ = request_from([], url="/dl/x?size=10&size=20&flag=")
    assert request.method == "POST"
    assert request.path == "/dl/x"
    assert request.query == {"size": ["10", "20"], "flag": [""]}
    assert request.headers.get_all("x-test") == ["1", "2"]
    assert request.content_length is None
    assert request.remote_addr == "127.0.0.1:5555"
    with pytest.raises(HeadersLockedError, match="read-only"):
        request.headers["X"] = "1"


async def test_body_iteration_yields_chunks_in_order() -> None:
    request, _ = request_from([b"ab", b"", b"cde"])
    assert [chunk async for chunk in request.body] == [b"ab", b"cde"]
    assert [chunk async for chunk in request.body] == []  # EOF stays EOF


async def test_read_n_returns_exactly_n_until_eof() -> None:
    request, _ = request_from([b"abc", b"defg", b"h"])
    assert await request.read(2) == b"ab"
    assert await request.read(4) == b"cdef"
    assert await request.read(0) == b""
    assert await request.read(10) == b"gh"
    assert await request.read(10) == b""
    with pytest.raises(ValueError):
        await request.read(-1)


async def test_body_is_read_on_demand_not_ahead() -> None:
    request, calls = request_from([b"a", b"b", b"c"])
    assert calls == []  # building the request reads nothing
    assert await request.read(1) == b"a"
    assert len(calls) == 1  # one message per need: no read-ahead queue


async def test_truncated_body_raises_instead_of_looking_complete() -> None:
    request, _ = request_from([b"partial"], complete=False)
    with pytest.raises(BodyTruncatedError, match="truncated"):
        async for _ in request.body:
            pass


async def test_body_on_the_first_message_and_second_init_is_a_protocol_error() -> None:
    queue = [RequestMessage(init=pb.ServeHTTPRequestInit(method="GET"))]

    async def receive() -> RequestMessage | None:
        return queue.pop(0) if queue else None

    first = RequestMessage(
        init=pb.ServeHTTPRequestInit(method="PUT", url="/u", content_length=3),
        body_chunk=b"xyz",
    )
    request = Request.from_first_message(first, receive)
    assert request.content_length == 3
    assert await request.read(3) == b"xyz"
    with pytest.raises(ProtocolError, match="twice"):
        await request.read(1)
    with pytest.raises(ProtocolError, match="no init"):
        Request.from_first_message(RequestMessage(body_chunk=b"x"), receive)
