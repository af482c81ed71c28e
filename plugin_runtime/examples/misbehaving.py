"""A plugin that breaks the ServeHTTP wire contract on purpose, for the host's tests.

The SDK refuses these mistakes where a plugin author makes them (CR/LF/NUL in a
header, a second init, a write after close), so this app goes around it with
`ResponseWriter.send_raw()`, the SDK's fault-injection hook: it sends raw
`ServeHTTPResponse` messages, as a buggy or non-Python plugin speaking the wire
protocol directly could. The host must turn each into a 500 (before response-init) or an
aborted transfer (after it), with a log line naming the plugin and the reason.

    python -m plugin_runtime --app plugin_runtime.examples.misbehaving:app --listen ADDR

GET /{case}; cases are the keys of CASES (e.g. /header-crlf-value, /second-init).
`?size=N` sets the body size of /oversize (default 256 KiB, above a host run with
--max-message-bytes=65536). `?name=REL` names the file of /sendfile (X-Sendfile
whether or not the host offers offload) and /sendfile-with-body (a body beside it).
"""

from __future__ import annotations

from collections.abc import Callable

from plugin_runtime import Request, ResponseWriter
from plugin_runtime._proto import hooks_http_pb2 as pb

Messages = list[pb.ServeHTTPResponse]


def _init(status: int = 200, **headers: str) -> pb.ServeHTTPResponse:
    return pb.ServeHTTPResponse(
        init=pb.ServeHTTPResponseInit(
            status_code=status,
            headers=[pb.HTTPHeader(key=k, values=[v]) for k, v in headers.items()],
        )
    )


def _header(key: str, value: str) -> Callable[[Request], Messages]:
    def build(_: Request) -> Messages:
        init = pb.ServeHTTPResponseInit(
            status_code=200,
            headers=[
                pb.HTTPHeader(key="X-Fine", values=["ok"]),
                pb.HTTPHeader(key=key, values=[value]),
            ],
        )
        return [pb.ServeHTTPResponse(init=init, body_chunk=b"body", body_complete=True)]

    return build


def _chunk(data: bytes, **flags: bool) -> pb.ServeHTTPResponse:
    return pb.ServeHTTPResponse(body_chunk=data, **flags)


def _sendfile(body: bytes) -> Callable[[Request], Messages]:
    def build(request: Request) -> Messages:
        name = request.query.get("name", ["file.bin"])[0]
        return [_init(200, **{"X-Sendfile": name}), _chunk(body, body_complete=True)]

    return build


def _oversize(request: Request) -> Messages:
    size = int(request.query.get("size", ["262144"])[0])
    return [_chunk(b"o" * size, body_complete=True)]


# case -> the raw messages the plugin sends; True in COMMITS_FIRST when the host has
# already sent the status line before it can see the mistake.
CASES: dict[str, Callable[[Request], Messages]] = {
    "header-crlf-value": _header("X-Injected", "a\r\nSet-Cookie: evil=1"),
    "header-lf-value": _header("X-Injected", "a\nSet-Cookie: evil=1"),
    "header-nul-value": _header("X-Injected", "a\x00b"),
    "header-cr-name": _header("X-Injected\r\nSet-Cookie", "evil=1"),
    "second-init": lambda _: [
        _init(200),
        _chunk(b"a"),
        _init(404),
        _chunk(b"", body_complete=True),
    ],
    "after-complete": lambda _: [_init(200), _chunk(b"a", body_complete=True), _chunk(b"late")],
    "no-complete": lambda _: [_init(200), _chunk(b"partial", flush=True)],
    "oversize": _oversize,
    "sendfile": _sendfile(b""),
    "sendfile-with-body": _sendfile(b"bytes beside the file"),
}
COMMITS_FIRST = {"second-init", "after-complete", "no-complete"}


async def app(request: Request, response: ResponseWriter) -> None:
    build = CASES.get(request.path.strip("/"))
    if build is None:
        response.write_header(404)
        await response.write(f"unknown case; known: {', '.join(CASES)}\n".encode())
        return
    # send_raw also keeps the runtime from completing the response: the mistakes stay as sent.
    for message in build(request):
        await response.send_raw(message)
