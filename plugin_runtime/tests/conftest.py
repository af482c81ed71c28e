"""Shared fakes: a ResponseWriter sending into a list, a Request fed from a list,
and an in-process plugin server on a unix socket with a grpc.aio client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import grpc
import pytest

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime._proto import hooks_http_pb2_grpc as hooks_grpc
from plugin_runtime.files import FilesRoot
from plugin_runtime.request import Request
from plugin_runtime.response import ResponseWriter
from plugin_runtime.server import Handler, PluginServer
from plugin_runtime.wire import RequestMessage, ResponseMessage

# How long a test waits for something that should happen: it bounds only a failure,
# so it is generous enough that a busy machine never trips it.
DEADLINE_S = 30.0


async def wait_for(predicate: Callable[[], object]) -> None:
    """Poll `predicate` for up to DEADLINE_S (fails the test if it never holds)."""
    async with asyncio.timeout(DEADLINE_S):
        while not predicate():  # noqa: ASYNC110 (the counters have no event to wait on)
            await asyncio.sleep(0.01)


class RecordingStream:
    """Stands in for grpc.aio's context.write: records every response message as
    protobuf parses its wire bytes."""

    def __init__(self) -> None:
        self.messages: list[pb.ServeHTTPResponse] = []

    async def send(self, message: ResponseMessage) -> None:
        self.messages.append(pb.ServeHTTPResponse.FromString(message.encode()))

    @property
    def body(self) -> bytes:
        return b"".join(m.body_chunk for m in self.messages)


def writer_with_stream(
    max_chunk_bytes: int = 8, files_root: FilesRoot | None = None, offload: bool = False
) -> tuple[ResponseWriter, RecordingStream]:
    stream = RecordingStream()
    writer = ResponseWriter(stream.send, max_chunk_bytes, files_root=files_root, offload=offload)
    return writer, stream


def request_from(
    chunks: Sequence[bytes],
    complete: bool = True,
    url: str = "/x?a=1&a=2&b=",
    headers: Sequence[tuple[str, list[str]]] = (("X-Test", ["1", "2"]),),
    content_length: int = -1,
) -> tuple[Request, list[int]]:
    """A Request whose body comes from `chunks`; the list counts receive() calls."""
    calls: list[int] = []
    messages = [RequestMessage(body_chunk=c) for c in chunks]
    if complete:
        messages.append(RequestMessage(body_complete=True))

    async def receive() -> RequestMessage | None:
        calls.append(1)
        return messages.pop(0) if messages else None

    init = pb.ServeHTTPRequestInit(
        method="POST",
        url=url,
        headers=[pb.HTTPHeader(key=k, values=v) for k, v in headers],
        content_length=content_length,
        remote_addr="127.0.0.1:5555",
    )
    return Request(init, receive), calls


class PluginClient:
    """A grpc.aio client of an in-process PluginServer."""

    def __init__(self, channel: grpc.aio.Channel, server: PluginServer) -> None:
        self.channel = channel
        self.server = server
        self.stub = hooks_grpc.PluginHooksStub(channel)

    def call(
        self,
        url: str,
        body: Sequence[bytes] = (),
        method: str = "GET",
        headers: Sequence[tuple[str, str]] = (),
    ) -> grpc.aio.StreamStreamCall:
        async def requests() -> AsyncIterator[pb.ServeHTTPRequest]:
            init = pb.ServeHTTPRequestInit(
                method=method,
                url=url,
                content_length=-1,
                headers=[pb.HTTPHeader(key=k, values=[v]) for k, v in headers],
            )
            yield pb.ServeHTTPRequest(init=init, body_complete=not body)
            for chunk in body:
                yield pb.ServeHTTPRequest(body_chunk=chunk)
            if body:
                yield pb.ServeHTTPRequest(body_complete=True)

        return self.stub.ServeHTTP(requests())

    async def fetch(
        self,
        url: str,
        body: Sequence[bytes] = (),
        method: str = "GET",
        headers: Sequence[tuple[str, str]] = (),
    ) -> tuple[pb.ServeHTTPResponseInit, bytes, list[pb.ServeHTTPResponse]]:
        messages = [m async for m in self.call(url, body, method, headers)]
        return messages[0].init, b"".join(m.body_chunk for m in messages), messages


@pytest.fixture
async def plugin_factory(tmp_path: Path) -> AsyncIterator[object]:
    started: list[tuple[PluginServer, grpc.aio.Channel]] = []

    async def start(
        handler: Handler, max_chunk_bytes: int = 65536, files_root: FilesRoot | None = None
    ) -> PluginClient:
        sock = tmp_path / f"plugin{len(started)}.sock"
        server = PluginServer(handler, f"unix:{sock}", max_chunk_bytes, files_root=files_root)
        await server.start()
        channel = grpc.aio.insecure_channel(f"unix:{sock}")
        started.append((server, channel))
        return PluginClient(channel, server)

    yield start
    for server, channel in started:
        await channel.close()
        await server.stop(grace=0.5)


@pytest.fixture
async def bench_plugin(plugin_factory) -> PluginClient:  # type: ignore[no-untyped-def]
    from plugin_runtime.examples.bench import app

    return await plugin_factory(app)
