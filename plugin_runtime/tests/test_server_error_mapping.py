"""Exception mapping of the servicer for streams the host gets wrong.

Each case drives the real grpc.aio server with a hand-built request stream and
checks the structured gRPC status the host will see, and that a response is never
completed on top of a broken request. A handler that fails while its stream is
being cancelled counts as cancelled, not failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import grpc
import pytest

from plugin_runtime import Request, ResponseWriter
from plugin_runtime._proto import hooks_http_pb2 as pb

from .conftest import DEADLINE_S, PluginClient, wait_for

handled: list[str] = []


async def upload(request: Request, response: ResponseWriter) -> None:
    handled.append(request.path)
    total = 0
    async for chunk in request.body:
        total += len(chunk)
    await response.write(str(total).encode())


def _init(url: str = "/upload") -> pb.ServeHTTPRequestInit:
    return pb.ServeHTTPRequestInit(method="POST", url=url, content_length=-1)


async def _stream(messages: Sequence[pb.ServeHTTPRequest]) -> AsyncIterator[pb.ServeHTTPRequest]:
    for message in messages:
        yield message


async def _outcome(
    client: PluginClient, messages: Sequence[pb.ServeHTTPRequest]
) -> tuple[grpc.StatusCode, str, list[pb.ServeHTTPResponse]]:
    received: list[pb.ServeHTTPResponse] = []
    call = client.stub.ServeHTTP(_stream(messages))
    try:
        async for message in call:
            received.append(message)
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or "", received
    return grpc.StatusCode.OK, "", received


@pytest.fixture
async def upload_plugin(plugin_factory) -> PluginClient:  # type: ignore[no-untyped-def]
    handled.clear()
    return await plugin_factory(upload)


@pytest.mark.parametrize(
    ("name", "messages", "code", "detail", "handler_ran"),
    [
        ("no message at all", [], grpc.StatusCode.INVALID_ARGUMENT, "before init", False),
        (
            "first message without init",
            [pb.ServeHTTPRequest(body_chunk=b"x", body_complete=True)],
            grpc.StatusCode.INVALID_ARGUMENT,
            "no init",
            False,
        ),
        (
            "second init mid-body",
            [
                pb.ServeHTTPRequest(init=_init()),
                pb.ServeHTTPRequest(body_chunk=b"abc"),
                pb.ServeHTTPRequest(init=_init()),
            ],
            grpc.StatusCode.INTERNAL,
            "ProtocolError",
            True,
        ),
        (
            "body ends without body_complete",
            [pb.ServeHTTPRequest(init=_init()), pb.ServeHTTPRequest(body_chunk=b"abc")],
            grpc.StatusCode.INTERNAL,
            "plugin handler raised",
            True,
        ),
    ],
)
async def test_broken_request_stream_maps_to_a_status_and_no_complete_response(
    upload_plugin: PluginClient,
    name: str,
    messages: list[pb.ServeHTTPRequest],
    code: grpc.StatusCode,
    detail: str,
    handler_ran: bool,
) -> None:
    got_code, got_detail, received = await _outcome(upload_plugin, messages)
    assert got_code == code, (name, got_code, got_detail)
    assert detail in got_detail, (name, got_detail)
    assert not any(m.body_complete for m in received), f"{name}: a broken request looked whole"
    assert (handled == ["/upload"]) is handler_ran, (name, handled)
    counters = upload_plugin.server.counters
    assert counters.active == 0
    assert counters.failed == (1 if handler_ran else 0), (name, counters)


async def test_complete_stream_is_ok(upload_plugin: PluginClient) -> None:
    """The control: the same handler with a well-formed stream completes."""
    code, _, received = await _outcome(
        upload_plugin,
        [
            pb.ServeHTTPRequest(init=_init()),
            pb.ServeHTTPRequest(body_chunk=b"abc"),
            pb.ServeHTTPRequest(body_chunk=b"de", body_complete=True),
        ],
    )
    assert code == grpc.StatusCode.OK
    assert b"".join(m.body_chunk for m in received) == b"5" and received[-1].body_complete


async def test_exception_after_the_stream_is_cancelled_counts_as_cancelled(
    plugin_factory,  # type: ignore[no-untyped-def]
) -> None:
    """A handler that swallows the cancellation and fails while unwinding is not a failure."""
    writing = asyncio.Event()

    async def stubborn(request: Request, response: ResponseWriter) -> None:
        await response.write(b"x" * 65536)
        await response.flush()
        writing.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            pass  # swallowed: the runtime must still see the stream is gone
        raise RuntimeError("cleanup failed")

    client = await plugin_factory(stubborn)
    call = client.call("/stubborn")
    await call.read()
    await asyncio.wait_for(writing.wait(), DEADLINE_S)
    call.cancel()
    counters = client.server.counters
    await wait_for(lambda: counters.active == 0)
    assert counters.cancelled == 1 and counters.failed == 0, counters
