"""The real grpc.aio server on a unix socket, driven by a Python grpc.aio client."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from plugin_runtime import Request, ResponseWriter
from plugin_runtime._proto import bench_stats_pb2 as stats_pb
from plugin_runtime._proto import bench_stats_pb2_grpc as stats_grpc
from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.examples.pattern import pattern_block

from .conftest import DEADLINE_S, PluginClient, wait_for


async def wait_for_stall(progress: list[int], limit: int, quiet_s: float = 1.0) -> int:
    """Bytes written once `progress` has stopped growing for `quiet_s`.

    Fails as soon as more than `limit` bytes were written (nothing holds the writer
    back), or if the writer never stops within DEADLINE_S.
    """
    loop = asyncio.get_running_loop()
    started = last_change = loop.time()
    last = -1
    while True:
        written = sum(progress)
        assert written <= limit, f"the writer ran on to {written} bytes with nobody reading"
        now = loop.time()
        if written != last:
            last, last_change = written, now
        elif now - last_change >= quiet_s:
            return written
        assert now - started < DEADLINE_S, f"the writer never stalled (at {written} bytes)"
        await asyncio.sleep(0.02)


async def test_socket_is_private_and_health_is_serving(bench_plugin: PluginClient) -> None:
    path = bench_plugin.server.address.socket_path
    assert path is not None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    health = health_pb2_grpc.HealthStub(bench_plugin.channel)
    for service in ("", "plugin"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_download_streams_pattern_in_max_size_chunks(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    from plugin_runtime.examples.bench import app

    client = await plugin_factory(app, max_chunk_bytes=1000)
    init, body, messages = await client.fetch("/download?size=2500&chunk=300")
    assert init.status_code == 200
    assert body == pattern_block(2500)
    assert [len(m.body_chunk) for m in messages] == [1000, 1000, 500]
    assert messages[-1].body_complete


async def test_upload_hashes_the_streamed_body(bench_plugin: PluginClient) -> None:
    parts = [os.urandom(7000) for _ in range(5)]
    init, body, _ = await bench_plugin.fetch("/upload", parts, method="POST")
    assert init.status_code == 200
    expected = hashlib.sha256(b"".join(parts)).hexdigest()
    assert body == f'{{"bytes": 35000, "sha256": "{expected}"}}'.encode()


async def test_echo_is_full_duplex(bench_plugin: PluginClient) -> None:
    call = bench_plugin.stub.ServeHTTP()
    await call.write(pb.ServeHTTPRequest(init=pb.ServeHTTPRequestInit(method="POST", url="/echo")))
    for i in range(3):
        await call.write(pb.ServeHTTPRequest(body_chunk=f"ping {i}".encode()))
        reply = await asyncio.wait_for(call.read(), DEADLINE_S)  # before the upload ends
        assert reply.body_chunk == f"ping {i}".encode() and reply.flush
    await call.write(pb.ServeHTTPRequest(body_complete=True))
    await call.done_writing()
    last = await call.read()
    assert last.body_complete
    assert await call.code() == grpc.StatusCode.OK


async def test_early_response_without_reading_the_body(bench_plugin: PluginClient) -> None:
    call = bench_plugin.stub.ServeHTTP()
    await call.write(
        pb.ServeHTTPRequest(init=pb.ServeHTTPRequestInit(method="POST", url="/early?status=202"))
    )
    await call.write(pb.ServeHTTPRequest(body_chunk=b"x" * 1000))  # never read, never completed
    messages = [m async for m in call]
    assert messages[0].init.status_code == 202
    assert messages[-1].body_complete
    assert await call.code() == grpc.StatusCode.OK


async def test_headers_multi_value_and_unchecked_status(bench_plugin: PluginClient) -> None:
    init, _, _ = await bench_plugin.fetch("/headers")
    values = {h.key: list(h.values) for h in init.headers}
    assert values["Set-Cookie"] == ["a=1; Path=/", "b=2; Path=/"]
    assert values["X-Multi"] == ["one", "two"]
    init, _, _ = await bench_plugin.fetch("/status?code=42")
    assert init.status_code == 42  # sent as-is: rejecting it is the host's job


@pytest.mark.parametrize("after", [0, 10])
async def test_handler_exception_aborts_with_internal(
    bench_plugin: PluginClient, after: int
) -> None:
    call = bench_plugin.call(f"/fail?after={after}")
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for message in call:
            received.append(message)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details().startswith("plugin handler raised RuntimeError: /fail route")
    assert b"".join(m.body_chunk for m in received) == pattern_block(after)
    assert not any(m.body_complete for m in received)


async def test_cancelled_stream_cancels_the_handler_promptly(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    cancelled = asyncio.Event()

    async def slow(request: Request, response: ResponseWriter) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    client = await plugin_factory(slow)
    call = client.call("/hang")
    counters = client.server.counters
    await wait_for(lambda: counters.active == 1)
    call.cancel()
    await asyncio.wait_for(cancelled.wait(), DEADLINE_S)  # the handler would sleep 60 s
    await wait_for(lambda: counters.active == 0 and counters.cancelled == 1)


async def test_slow_reader_back_pressures_the_writer(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    progress: list[int] = []

    async def endless(request: Request, response: ResponseWriter) -> None:
        block = bytes(65536)
        while True:
            await response.write(block)
            progress.append(len(block))

    client = await plugin_factory(endless)
    call = client.call("/endless")
    await call.read()  # the stream is running; now stop reading
    # write() waits for flow control: the writer stops while nobody reads, far below
    # what an unbounded buffer would take.
    stalled_at = await wait_for_stall(progress, limit=64 * 1024 * 1024)
    # ... and it was waiting for the reader: reading again lets it go on.
    async with asyncio.timeout(DEADLINE_S):
        while sum(progress) == stalled_at:
            assert await call.read() is not grpc.aio.EOF
    call.cancel()
    await wait_for(lambda: client.server.counters.cancelled == 1)


async def test_handler_returning_without_close_is_completed(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    async def no_close(request: Request, response: ResponseWriter) -> None:
        response.headers["X-A"] = "1"
        await response.write(b"partial-but-finished")

    client = await plugin_factory(no_close)
    init, body, messages = await client.fetch("/")
    assert init.status_code == 200 and body == b"partial-but-finished"
    assert messages[-1].body_complete


async def test_stats_report_process_and_handler_figures(bench_plugin: PluginClient) -> None:
    await bench_plugin.fetch("/download?size=10")
    stub = stats_grpc.PluginStatsServiceStub(bench_plugin.channel)
    stats = await stub.GetStats(stats_pb.PluginStatsRequest())
    assert stats.pid == os.getpid()
    assert stats.rss_bytes > 1024 * 1024
    assert stats.threads >= 1 and stats.open_fds >= 3
    assert stats.handlers_total == 1 and stats.active_handlers == 0
    assert stats.handlers_cancelled == 0
    assert stats.asyncio_tasks >= 1
    assert stats.max_chunk_bytes == 65536


async def test_sse_events_are_flushed_one_by_one(bench_plugin: PluginClient) -> None:
    init, body, messages = await bench_plugin.fetch("/sse?events=3&interval_ms=1")
    assert [h.values[0] for h in init.headers if h.key == "Content-Type"] == ["text/event-stream"]
    assert body == b"".join(f"id: {i}\ndata: event {i}\n\n".encode() for i in range(3))
    assert sum(m.flush for m in messages) == 3


async def test_demo_hang_is_cancelled_and_bad_input_is_400(bench_plugin: PluginClient) -> None:
    call = bench_plugin.call("/hang")
    counters = bench_plugin.server.counters
    await wait_for(lambda: counters.active == 1)
    call.cancel()
    await wait_for(lambda: counters.active == 0 and counters.cancelled == 1)
    init, body, _ = await bench_plugin.fetch("/download?size=abc")
    assert init.status_code == 400 and b"size='abc' is not an integer" in body
    init, _, _ = await bench_plugin.fetch("/nowhere")
    assert init.status_code == 404
