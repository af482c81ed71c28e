"""The message that ends a response leaves with the RPC's status (the Outbox's hold_last):
the client sees the same messages as before, handlers that go on working after
close() do not hold their response back, and failures still end the stream."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from plugin_runtime import Request, ResponseWriter
from plugin_runtime._proto import hooks_http_pb2 as pb

from .conftest import DEADLINE_S, PluginClient, wait_for


async def test_small_response_is_one_message_then_ok(bench_plugin: PluginClient) -> None:
    call = bench_plugin.call("/download?size=1024&chunk=1024")
    messages = [message async for message in call]
    assert len(messages) == 1
    (only,) = messages
    assert only.HasField("init") and only.init.status_code == 200
    assert len(only.body_chunk) == 1024 and only.body_complete and not only.flush
    assert await call.code() == grpc.StatusCode.OK


async def test_multi_message_response_keeps_its_order(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    from plugin_runtime.examples.bench import app

    client = await plugin_factory(app, max_chunk_bytes=1000)
    _, body, messages = await client.fetch("/download?size=2500&chunk=2500")
    assert [len(m.body_chunk) for m in messages] == [1000, 1000, 500]
    assert [m.body_complete for m in messages] == [False, False, True]
    assert body == bytes(i % 256 for i in range(2500))


async def test_work_after_close_does_not_hold_the_response_back(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    client_has_body = asyncio.Event()

    async def background_work(request: Request, response: ResponseWriter) -> None:
        response.headers["X-Done"] = "yes"
        await response.write(b"answer")
        await response.close()
        # Still running: the client must already have the answer, or this never ends.
        await asyncio.wait_for(client_has_body.wait(), DEADLINE_S)

    client = await plugin_factory(background_work)
    call = client.call("/")
    first = await asyncio.wait_for(call.read(), DEADLINE_S)
    assert first.init.status_code == 200 and first.body_chunk == b"answer"
    assert first.flush and not first.body_complete  # pushed now, complete follows
    client_has_body.set()
    last = await asyncio.wait_for(call.read(), DEADLINE_S)
    assert last.body_complete and not last.body_chunk and not last.HasField("init")
    assert await call.read() is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_failure_after_close_still_sends_the_complete_response_first(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    async def fails_after_close(request: Request, response: ResponseWriter) -> None:
        await response.write(b"whole")
        await response.close()
        raise RuntimeError("cleanup failed")

    client = await plugin_factory(fails_after_close)
    call = client.call("/")
    received: list[pb.ServeHTTPResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for message in call:
            received.append(message)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert b"".join(m.body_chunk for m in received) == b"whole"
    assert received[-1].body_complete
    assert client.server.counters.failed == 1


async def test_raw_messages_go_exactly_as_sent(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    sent = [
        pb.ServeHTTPResponse(init=pb.ServeHTTPResponseInit(status_code=202)),
        pb.ServeHTTPResponse(body_chunk=b"a", flush=True),
        pb.ServeHTTPResponse(body_chunk=b"b"),  # no body_complete: the host must object
    ]

    async def raw(request: Request, response: ResponseWriter) -> None:
        for message in sent:
            await response.send_raw(message)

    client = await plugin_factory(raw)
    call = client.call("/")
    received = [message async for message in call]
    assert received == sent
    assert await call.code() == grpc.StatusCode.OK


async def test_cancel_while_working_after_close_cancels_the_handler(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    cancelled = asyncio.Event()

    async def background_work(request: Request, response: ResponseWriter) -> None:
        await response.write(b"answer")
        await response.close()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    client = await plugin_factory(background_work)
    call = client.call("/")
    first = await asyncio.wait_for(call.read(), DEADLINE_S)
    assert first.body_chunk == b"answer"  # pushed while the handler works on
    call.cancel()
    await asyncio.wait_for(cancelled.wait(), DEADLINE_S)  # the handler would sleep 60 s
    counters = client.server.counters
    await wait_for(lambda: counters.active == 0 and counters.cancelled == 1)
