"""ASGI adapters: a real Starlette app served as the plugin, and the demo plugin under ASGI."""

from __future__ import annotations

import asyncio
import hashlib

import grpc
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from plugin_runtime.asgi import asgi_app, asgi_handler
from plugin_runtime.examples.bench import app as bench_app
from plugin_runtime.examples.pattern import pattern_block

from .conftest import DEADLINE_S, wait_for

hung = asyncio.Event()


async def hello(request: StarletteRequest) -> PlainTextResponse:
    response = PlainTextResponse(f"hello {request.query_params['name']}", status_code=201)
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    return response


async def count(request: StarletteRequest) -> JSONResponse:
    digest, total = hashlib.sha256(), 0
    async for chunk in request.stream():
        digest.update(chunk)
        total += len(chunk)
    return JSONResponse({"bytes": total, "sha256": digest.hexdigest()})


async def stream(request: StarletteRequest) -> StreamingResponse:
    async def numbers():  # type: ignore[no-untyped-def]
        for i in range(5):
            yield f"{i}\n"

    return StreamingResponse(numbers(), media_type="text/plain")


async def forever(request: StarletteRequest) -> StreamingResponse:
    async def slow():  # type: ignore[no-untyped-def]
        yield "first\n"
        hung.set()
        await asyncio.sleep(60)
        yield "never\n"

    return StreamingResponse(slow())


starlette_app = Starlette(
    routes=[
        Route("/hello", hello),
        Route("/count", count, methods=["POST"]),
        Route("/stream", stream),
        Route("/forever", forever),
    ]
)


async def test_starlette_app_served_as_plugin(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    client = await plugin_factory(asgi_handler(starlette_app))
    init, body, _ = await client.fetch("/hello?name=bob")
    assert init.status_code == 201 and body == b"hello bob"
    cookies = [v for h in init.headers if h.key.lower() == "set-cookie" for v in h.values]
    assert len(cookies) == 2

    parts = [b"a" * 5000, b"b" * 7000]
    init, body, _ = await client.fetch("/count", parts, method="POST")
    expected = hashlib.sha256(b"".join(parts)).hexdigest()
    assert init.status_code == 200
    assert body == f'{{"bytes":12000,"sha256":"{expected}"}}'.encode()

    init, body, messages = await client.fetch("/stream")
    assert body == b"0\n1\n2\n3\n4\n"
    assert any(m.flush for m in messages)  # each ASGI body event is flushed
    assert messages[-1].body_complete


async def test_starlette_handler_is_cancelled_with_the_stream(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    hung.clear()
    client = await plugin_factory(asgi_handler(starlette_app))
    call = client.call("/forever")
    first = await call.read()
    assert first.body_chunk == b"first\n"
    await asyncio.wait_for(hung.wait(), DEADLINE_S)
    call.cancel()
    counters = client.server.counters
    await wait_for(lambda: counters.cancelled == 1 and counters.active == 0)


async def test_asgi_app_returning_without_response_is_an_error(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    async def lazy(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})

    client = await plugin_factory(asgi_handler(lazy))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.fetch("/")
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "without completing the response" in caught.value.details()


@pytest.fixture
async def direct() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi_app(bench_app))
    async with httpx.AsyncClient(transport=transport, base_url="http://plugin") as client:
        yield client  # type: ignore[misc]


async def test_demo_plugin_under_asgi(direct: httpx.AsyncClient) -> None:
    reply = await direct.get("/download", params={"size": 3000, "chunk": 1000})
    assert reply.status_code == 200 and reply.content == pattern_block(3000)

    async def body():  # type: ignore[no-untyped-def]
        for _ in range(4):
            yield b"z" * 10000

    reply = await direct.post("/upload", content=body())
    assert reply.json() == {
        "bytes": 40000,
        "sha256": hashlib.sha256(b"z" * 40000).hexdigest(),
    }
    reply = await direct.get("/headers", headers={"X-Probe": "1"})
    assert reply.headers.get_list("x-multi") == ["one", "two"]
    assert reply.json()["request_headers"]["x-probe"] == ["1"]
    reply = await direct.post("/early?status=201", content=b"unread")
    assert reply.status_code == 201


async def test_demo_plugin_under_asgi_rejects_invalid_status(direct: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="invalid HTTP status 42"):
        await direct.get("/status", params={"code": 42})
