"""`--app MODULE:ATTR`: import the app and tell a plugin handler from an ASGI app.

Two kinds of app can be served:
- a plugin handler, `async def handler(request, response)` (this package's SDK);
- an ASGI app (Starlette, FastAPI, any ASGI 3 callable, or a legacy ASGI 2
  class), served through `plugin_runtime.asgi.asgi_handler`.

With `interface="auto"` the kind is read off the callable the way uvicorn tells
ASGI 3 from ASGI 2 (uvicorn/config.py): a class is ASGI (3 when its instances are
awaitable, else 2); for a function, or an object with an `async __call__`, the
coroutine function's required positional parameters decide: two are (request,
response), three are (scope, receive, send). Anything else needs `--interface`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any, Literal

from plugin_runtime.asgi import ASGIApp, Handler, Receive, Scope, Send, asgi_handler

Interface = Literal["auto", "plugin", "asgi"]
INTERFACES: tuple[Interface, ...] = ("auto", "plugin", "asgi")

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class AppLoadError(ValueError):
    """--app does not name an importable app of a kind the runtime can serve."""


def import_app(spec: str) -> Any:
    """The object `MODULE:ATTR` names (ATTR may be dotted)."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise AppLoadError(f"--app {spec!r}: expected MODULE:ATTR, e.g. mypkg.plugin:app")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppLoadError(f"--app {spec!r}: module {module_name!r} not found") from exc
        raise  # the module exists but one of its own imports failed: show that traceback
    target: object = module
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AppLoadError(
                f"--app {spec!r}: module {module_name!r} has no attribute {attr_path!r}"
            ) from None
    if not callable(target):
        raise AppLoadError(f"--app {spec!r}: {attr_path!r} is not callable")
    return target


def _coroutine_function(app: object) -> Callable[..., Any] | None:
    """The coroutine function calling `app` runs: itself, or its `async __call__`."""
    if inspect.iscoroutinefunction(app):
        return app  # type: ignore[return-value]
    call = getattr(app, "__call__", None)  # noqa: B004 (async callable objects)
    return call if inspect.iscoroutinefunction(call) else None


def detect_interface(app: object) -> Literal["plugin", "asgi"]:
    """What `app` is, as `--interface auto` decides it; AppLoadError when it cannot tell."""
    if inspect.isclass(app):
        return "asgi"  # ASGI 3 when its instances are awaitable, else ASGI 2 (scope -> app)
    if _coroutine_function(app) is None:
        raise AppLoadError(
            "must be `async def (request, response)` (a plugin handler) or an ASGI app"
        )
    try:
        parameters = inspect.signature(app).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AppLoadError("has no readable signature: pass --interface") from None
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        raise AppLoadError("takes *args: pass --interface plugin or --interface asgi")
    required = sum(1 for p in parameters if p.kind in _POSITIONAL and p.default is p.empty)
    if required == 2:
        return "plugin"
    if required == 3:
        return "asgi"
    raise AppLoadError(
        f"takes {required} required positional parameters: expected (request, response) for "
        "a plugin handler or (scope, receive, send) for an ASGI app; or pass --interface"
    )


def _asgi3(app: Any) -> ASGIApp:
    """An ASGI 2 class (`app(scope)` returns `async (receive, send)`) as ASGI 3."""
    if not inspect.isclass(app) or hasattr(app, "__await__"):
        return app  # type: ignore[no-any-return]

    async def asgi3(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope)(receive, send)

    return asgi3


def load_app(spec: str, interface: Interface = "auto") -> tuple[Handler, str]:
    """Import `MODULE:ATTR` and make it a plugin handler; also say which interface it was."""
    app = import_app(spec)
    attr = spec.partition(":")[2]
    if interface == "auto":
        try:
            interface = detect_interface(app)
        except AppLoadError as exc:
            raise AppLoadError(f"--app {spec!r}: {attr!r} {exc}") from None
    if interface == "asgi":
        if not (inspect.isclass(app) or _coroutine_function(app)):
            raise AppLoadError(f"--app {spec!r}: {attr!r} is not an async ASGI app")
        return asgi_handler(_asgi3(app)), "asgi"
    if interface != "plugin":
        raise AppLoadError(
            f"--interface (or PLUGIN_INTERFACE) {interface!r}: "
            f"expected one of {', '.join(INTERFACES)}"
        )
    if _coroutine_function(app) is None:
        raise AppLoadError(f"--app {spec!r}: {attr!r} must be `async def (request, response)`")
    return app, "plugin"  # type: ignore[no-any-return]
