"""Command line: `python -m plugin_runtime --app MODULE:ATTR --listen ADDR`, and `health ADDR`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from plugin_runtime.files import FilesRoot, FilesRootError
from plugin_runtime.listen import ListenAddressError, parse_listen
from plugin_runtime.loader import INTERFACES, AppLoadError, load_app
from plugin_runtime.loop import LOOPS, LoopUnavailableError, choose_loop
from plugin_runtime.outbox import DEFAULT_MAX_CHUNK_BYTES, DEFAULT_RESPONSE_BUFFER_BYTES
from plugin_runtime.server import DEFAULT_RECEIVE_WINDOW_BYTES, DEFAULT_SHUTDOWN_GRACE_S, serve

log = logging.getLogger("plugin_runtime")
EXIT_USAGE = 2


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= minimum, with a clear message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m plugin_runtime",
        description="Serve a plugin handler over the ServeHTTP gRPC stream "
        "(subcommand: `health ADDR`).",
    )
    env = os.environ
    parser.add_argument(
        "--app",
        default=env.get("PLUGIN_APP"),
        help="MODULE:ATTR of the async handler or ASGI app (env PLUGIN_APP)",
    )
    parser.add_argument(
        "--interface",
        default=env.get("PLUGIN_INTERFACE", "auto"),
        choices=INTERFACES,
        help="what --app is: `plugin` (async (request, response)), `asgi` (ASGI 3 or 2 app, "
        "e.g. Starlette, FastAPI) or `auto`, read off its signature (env PLUGIN_INTERFACE; "
        "default %(default)s)",
    )
    parser.add_argument(
        "--listen",
        default=env.get("PLUGIN_LISTEN"),
        help="unix:/path.sock or HOST:PORT (env PLUGIN_LISTEN)",
    )
    parser.add_argument(
        "--max-chunk-bytes",
        type=_positive_int,
        default=env.get("PLUGIN_MAX_CHUNK_BYTES", str(DEFAULT_MAX_CHUNK_BYTES)),
        help="largest response body_chunk sent (env PLUGIN_MAX_CHUNK_BYTES; default %(default)s)",
    )
    parser.add_argument(
        "--receive-window-bytes",
        type=_non_negative_int,
        default=env.get("PLUGIN_RECEIVE_WINDOW_BYTES", str(DEFAULT_RECEIVE_WINDOW_BYTES)),
        help="HTTP/2 receive window per stream, bounds buffered upload bytes; 0 = grpc's "
        "BDP probing (env PLUGIN_RECEIVE_WINDOW_BYTES; default %(default)s)",
    )
    parser.add_argument(
        "--response-buffer-bytes",
        type=_positive_int,
        default=env.get("PLUGIN_RESPONSE_BUFFER_BYTES", str(DEFAULT_RESPONSE_BUFFER_BYTES)),
        help="memory budget for response messages in flight, all responses together: "
        "budget / (3 x max chunk) responses send full-size messages at once, the rest wait "
        "their turn (env PLUGIN_RESPONSE_BUFFER_BYTES; default %(default)s)",
    )
    parser.add_argument(
        "--files-root",
        default=env.get("PLUGIN_FILES_ROOT", ""),
        help="directory the plugin hands files from (response.send_file: offloaded to a "
        "host that offers it, else streamed); empty = off (env PLUGIN_FILES_ROOT)",
    )
    parser.add_argument(
        "--loop",
        default=env.get("PLUGIN_LOOP", "auto"),
        choices=LOOPS,
        help="event loop: `uvloop` (faster per request), `asyncio`, or `auto` (uvloop when "
        "installed) (env PLUGIN_LOOP; default %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default=env.get("PLUGIN_LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
    )
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        default=DEFAULT_SHUTDOWN_GRACE_S,
        help="seconds in-flight streams may finish after SIGTERM (default %(default)s)",
    )
    return parser


def health_check(address: str, timeout: float = 3.0) -> int:
    """0 iff the plugin's health service answers SERVING (for container healthchecks)."""
    try:
        target = parse_listen(address).grpc_target
    except ListenAddressError as exc:
        print(f"health: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError as exc:
            print(f"health: {address}: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"health: {address}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["health"]:
        health = argparse.ArgumentParser(prog="python -m plugin_runtime health")
        health.add_argument("address", help="unix:/path.sock or HOST:PORT")
        health.add_argument("--timeout", type=float, default=3.0)
        parsed = health.parse_args(args_list[1:])
        return health_check(parsed.address, parsed.timeout)

    parser = _serve_parser()
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.app or not args.listen:
        parser.error("--app and --listen are required (or PLUGIN_APP / PLUGIN_LISTEN)")
    try:
        parse_listen(args.listen)
        files_root = FilesRoot(args.files_root) if args.files_root else None
        handler, interface = load_app(args.app, args.interface)
        loop_name, loop_factory = choose_loop(args.loop)
    except (AppLoadError, FilesRootError, ListenAddressError, LoopUnavailableError) as exc:
        print(f"plugin_runtime: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    log.info("serving --app %s (interface=%s, loop=%s)", args.app, interface, loop_name)
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(
                serve(
                    handler,
                    args.listen,
                    args.max_chunk_bytes,
                    args.shutdown_grace,
                    args.receive_window_bytes,
                    args.response_buffer_bytes,
                    files_root,
                )
            )
    except ListenAddressError as exc:
        print(f"plugin_runtime: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
