"""`--app` / `--interface`: a plugin handler and an ASGI app are told apart, and both serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plugin_runtime import Request, ResponseWriter
from plugin_runtime.cli import main
from plugin_runtime.examples.starlette_app import app as starlette_app
from plugin_runtime.loader import AppLoadError, detect_interface, load_app

HERE = "plugin_runtime.tests.test_loader"


async def plugin_handler(request: Request, response: ResponseWriter) -> None:
    await response.write(b"plugin " + request.path.encode())


async def plugin_handler_with_option(
    request: Request, response: ResponseWriter, greeting: bytes = b"hi"
) -> None:
    await response.write(greeting)


async def asgi3_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi3 " + scope["path"].encode()})


class PluginObject:
    async def __call__(self, request: Request, response: ResponseWriter) -> None:
        await response.write(b"object")


class ASGIObject:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await asgi3_app(scope, receive, send)


class ASGI2App:
    """The legacy double callable: app(scope) -> async (receive, send)."""

    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi2 " + self.scope["path"].encode()})


async def wrapped(*args: Any) -> None:
    """What a decorator without functools.wraps leaves: the kind cannot be read off."""


async def one_parameter(request: Request) -> None:
    """Neither a handler nor an ASGI app."""


def sync_handler(request: Request, response: ResponseWriter) -> None:
    """Not async: the runtime could not await it."""


plugin_object = PluginObject()
asgi_object = ASGIObject()


@pytest.mark.parametrize(
    ("app", "interface"),
    [
        (plugin_handler, "plugin"),
        (plugin_handler_with_option, "plugin"),  # an optional third parameter is not ASGI
        (plugin_object, "plugin"),
        (asgi3_app, "asgi"),
        (asgi_object, "asgi"),
        (starlette_app, "asgi"),  # a Starlette instance: async __call__(scope, receive, send)
        (ASGI2App, "asgi"),  # a class: ASGI 2, as uvicorn reads it
    ],
)
def test_auto_detection_table(app: object, interface: str) -> None:
    assert detect_interface(app) == interface


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (sync_handler, "must be `async def (request, response)`"),
        (wrapped, "takes *args: pass --interface"),
        (one_parameter, "takes 1 required positional parameters"),
    ],
)
def test_undetectable_apps_say_what_to_do(app: object, message: str) -> None:
    with pytest.raises(AppLoadError) as exc:
        detect_interface(app)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("attr", "interface", "expected"),
    [
        ("plugin_handler", "auto", "plugin"),
        ("asgi3_app", "auto", "asgi"),
        ("ASGI2App", "auto", "asgi"),
        ("wrapped", "asgi", "asgi"),  # the override settles what auto cannot
        ("wrapped", "plugin", "plugin"),
    ],
)
def test_load_app_reports_the_interface(attr: str, interface: Any, expected: str) -> None:
    _, chosen = load_app(f"{HERE}:{attr}", interface)
    assert chosen == expected


@pytest.mark.parametrize(
    ("attr", "interface", "message"),
    [
        ("wrapped", "auto", "'wrapped' takes *args"),
        ("sync_handler", "plugin", "must be `async def (request, response)`"),
        ("sync_handler", "asgi", "is not an async ASGI app"),
        ("plugin_handler", "wsgi", "expected one of auto, plugin, asgi"),
    ],
)
def test_load_app_errors(attr: str, interface: Any, message: str) -> None:
    with pytest.raises(AppLoadError) as exc:
        load_app(f"{HERE}:{attr}", interface)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("attr", "status", "body"),
    [
        ("plugin_handler", 200, b"plugin /p"),
        ("asgi3_app", 200, b"asgi3 /p"),
        ("ASGI2App", 201, b"asgi2 /p"),
        ("asgi_object", 200, b"asgi3 /p"),
    ],
)
async def test_each_kind_serves_over_the_stream(
    plugin_factory,  # type: ignore[no-untyped-def]
    attr: str,
    status: int,
    body: bytes,
) -> None:
    handler, _ = load_app(f"{HERE}:{attr}")
    client = await plugin_factory(handler)
    init, got, messages = await client.fetch("/p")
    assert (init.status_code or 200, got) == (status, body)
    assert messages[-1].body_complete


def test_cli_rejects_an_unknown_interface(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "--app",
                f"{HERE}:asgi3_app",
                "--listen",
                f"unix:{tmp_path}/p.sock",
                "--interface",
                "x",
            ]
        )
    assert exc.value.code == 2
    assert "invalid choice: 'x'" in capsys.readouterr().err


def test_cli_interface_from_the_environment_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGIN_INTERFACE", "wsgi")
    assert main(["--app", f"{HERE}:asgi3_app", "--listen", f"unix:{tmp_path}/p.sock"]) == 2
    assert "PLUGIN_INTERFACE) 'wsgi'" in capsys.readouterr().err
