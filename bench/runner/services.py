"""The services a run measures: the bridge and its peers, spawned or given.

Spawned (default): bench/runner/stack.py's host + plugin pair for the chunk
setting (Go direct and the gRPC floor are routes of that host), plus on request
uvicorn serving the demo handler (python-direct), a second host in --buffered
mode against the same plugin, and the Go plugin on the legacy RPC
(bin/gopluginhost, which starts bin/goplugin). A `Variant` starts the pair from
another tree, interpreter or host binary (A/B runs).
External (--target-url, e.g. compose): running services, no PIDs, only HTTP and
their /debug/stats.
Docker (sweep --docker): a plugin + host container pair per chunk setting.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.paths import GOPLUGINHOST_BIN, HOSTSTUB_BIN
from bench.core.targets import (
    BRIDGE,
    BRIDGE_CONTAINERS,
    BUFFERED,
    GO_PLUGIN,
    GO_PLUGIN_STATS,
    HOST_SIDES,
    HOST_STATS,
    PYTHON_DIRECT,
    StatsProcess,
    Target,
    bridge_processes,
    go_direct,
    grpc_floor,
)
from bench.observe.samplers import StatsClient
from bench.runner import stack as stack_mod

log = logging.getLogger(__name__)

# The plugin app a spawned run serves; another one only to test the bench itself
# (e.g. plugin_runtime.examples.leaky:app, the planted leak the soak must catch).
PLUGIN_APP_ENV = "BENCH_PLUGIN_APP"
# The Go peer's process names in every report.
GO_PLUGIN_HOST = "go-plugin-host"


@dataclass
class Services:
    targets: dict[str, Target]
    stats_urls: dict[str, str] = field(default_factory=dict)  # stats source -> URL
    processes: dict[str, int] = field(default_factory=dict)  # name -> pid, spawned only
    containers: dict[str, Any] = field(default_factory=dict)  # service -> docker Container
    files_root: Path | None = None  # the folder host and plugin serve files from

    @property
    def stats_url(self) -> str | None:
        """The bridge host's /debug/stats."""
        return self.stats_urls.get(HOST_STATS)

    def only(self, keep: set[str]) -> Services:
        self.targets = {k: v for k, v in self.targets.items() if k in keep}
        return self


@dataclass(frozen=True)
class Variant:
    """A bridge started from another tree, interpreter or binary, for A/B runs:
    `NAME=TREE[;ENV=VALUE...]` (the plugin runs from TREE with the extra environment;
    BENCH_PLUGIN_PYTHON picks its interpreter, HOSTSTUB_BIN the host binary)."""

    name: str
    tree: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> Variant:
        name, sep, rest = spec.partition("=")
        if not sep or not name:
            raise ValueError(f"variant {spec!r}: expected NAME=TREE[;ENV=VALUE...]")
        tree, *items = rest.split(";")
        env = {}
        for item in filter(None, items):
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"variant {spec!r}: {item!r} is not ENV=VALUE")
            env[key] = value
        path = Path(tree).resolve() if tree else None
        if path is not None and not (path / "plugin_runtime").is_dir():
            raise ValueError(f"variant {spec!r}: {path} has no plugin_runtime/")
        return cls(name, path, env)

    @property
    def spec(self) -> str:
        items = [str(self.tree or "."), *(f"{k}={v}" for k, v in self.env.items())]
        return f"{self.name}={';'.join(items)}"


@contextlib.contextmanager
def _child(
    args: list[str], log_file: Path, ready_url: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log_file.open("ab") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=stack_mod.REPO_ROOT,
            env={**os.environ, **(env or {})},
        )
    try:
        try:
            stack_mod.wait_ready(ready_url, [proc])
        except stack_mod.StackError as exc:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise stack_mod.StackError(f"{exc}\n{tail}") from exc
        yield proc
    finally:
        stack_mod.stop_process(proc)


def _stats_pid(stats_url: str, side: str) -> int | None:
    client = StatsClient(stats_url)
    try:
        pid = client.fetch().get(side, {}).get("pid")
    except (OSError, ValueError):
        return None
    finally:
        client.close()
    return int(pid) if isinstance(pid, int) and pid > 0 else None


@contextlib.contextmanager
def _python_direct(log_dir: Path, files_root: Path | None) -> Iterator[Target]:
    """uvicorn serving the demo handler (the same files root: it streams files itself)."""
    port = stack_mod.free_tcp_port()
    url = f"http://127.0.0.1:{port}"
    env = {"PLUGIN_FILES_ROOT": str(files_root)} if files_root is not None else {}
    with _child(
        [
            sys.executable,
            *("-m", "uvicorn", "plugin_runtime.examples.bench:asgi"),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--log-level", "warning", "--no-access-log"),
        ],
        log_dir / "python-direct.log",
        f"{url}/download?size=1&chunk=1",
        env,
    ) as uvicorn:
        yield Target(PYTHON_DIRECT, url, {PYTHON_DIRECT: uvicorn.pid})


@contextlib.contextmanager
def _go_plugin(log_dir: Path) -> Iterator[Target]:
    """bin/gopluginhost, which starts bin/goplugin as its child (go-plugin's way)."""
    port = stack_mod.free_tcp_port()
    url = f"http://127.0.0.1:{port}"
    with _child(
        [str(GOPLUGINHOST_BIN), "--listen", f"127.0.0.1:{port}"],
        log_dir / "go-plugin.log",
        f"{url}/healthz",
    ) as host:
        processes = {GO_PLUGIN_HOST: host.pid}
        child = _stats_pid(f"{url}/debug/stats", "plugin")
        if child is not None:
            processes[GO_PLUGIN] = child
        yield Target(GO_PLUGIN, f"{url}/plugins/bench", processes)


def _plugin_stack(
    chunk: int, log_dir: Path, files_root: Path | None, variant: Variant | None
) -> contextlib.AbstractContextManager[stack_mod.Stack]:
    files = ["--files-root", str(files_root)] if files_root is not None else []
    env = dict(variant.env) if variant else {}
    host_bin = env.pop("HOSTSTUB_BIN", None)
    return stack_mod.run_stack(
        app=os.environ.get(PLUGIN_APP_ENV) or stack_mod.DEMO_APP,
        host_args=["--request-chunk-bytes", str(chunk), *files],
        plugin_args=["--max-chunk-bytes", str(chunk), *files],
        env=env,
        log_dir=log_dir,
        plugin_python=env.pop("BENCH_PLUGIN_PYTHON", None),
        plugin_cwd=variant.tree if variant else None,
        host_bin=Path(host_bin) if host_bin else HOSTSTUB_BIN,
    )


@contextlib.contextmanager
def spawned(
    chunk: int,
    log_dir: Path,
    references: set[str],
    *,
    files_root: Path | None = None,
    variant: Variant | None = None,
) -> Iterator[Services]:
    """host + plugin with `chunk` on both sides, plus the wanted spawned references."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as exits:
        stack = exits.enter_context(_plugin_stack(chunk, log_dir, files_root, variant))
        host_pid, plugin_pid = stack.host.pid, stack.plugin.pid
        pair = bridge_processes(host_pid, plugin_pid)
        services = Services(
            targets={
                BRIDGE: Target(BRIDGE, stack.plugin_url, pair),
                **{
                    t.name: t
                    for t in (
                        go_direct(stack.host_url, {"host": host_pid}),
                        grpc_floor(stack.host_url, dict(pair)),
                    )
                },
            },
            stats_urls={HOST_STATS: stack.stats_url},
            processes=dict(pair),
            files_root=files_root,
        )
        if PYTHON_DIRECT in references:
            target = exits.enter_context(_python_direct(log_dir, files_root))
            services.targets[PYTHON_DIRECT] = target
            services.processes.update(target.processes)
        if BUFFERED in references:
            port = stack_mod.free_tcp_port()
            buffered = exits.enter_context(
                _child(
                    [
                        str(HOSTSTUB_BIN),
                        *("--listen", f"127.0.0.1:{port}"),
                        *("--plugin-addr", stack.plugin_addr),
                        *("--plugin-id", stack.plugin_id),
                        *("--request-chunk-bytes", str(chunk)),
                        "--buffered",
                    ],
                    log_dir / "buffered-host.log",
                    f"http://127.0.0.1:{port}/healthz",
                )
            )
            services.targets[BUFFERED] = Target(
                BUFFERED,
                f"http://127.0.0.1:{port}/plugins/{stack.plugin_id}",
                {"buffered-host": buffered.pid, "plugin": plugin_pid},
            )
            services.processes["buffered-host"] = buffered.pid
        if GO_PLUGIN in references:
            if GOPLUGINHOST_BIN.exists():
                target = exits.enter_context(_go_plugin(log_dir))
                services.targets[GO_PLUGIN] = target
                services.processes.update(target.processes)
            else:
                log.warning(
                    "%s not built (scripts/setup.sh): no go-plugin target", GOPLUGINHOST_BIN
                )
        yield services


@contextlib.contextmanager
def external(
    target_url: str,
    stats_url: str | None,
    *,
    go_plugin_url: str | None = None,
    files_root: Path | None = None,
    plugin_id: str = "bench",
) -> Iterator[Services]:
    """Running services (compose): the host's base URL (Go direct and the gRPC floor
    are on it too) and, when given, the Go plugin host's."""
    base = target_url.rstrip("/")
    services = Services(
        targets={
            BRIDGE: Target(
                BRIDGE,
                f"{base}/plugins/{plugin_id}",
                {},
                dict(HOST_SIDES),
                containers=BRIDGE_CONTAINERS,
            ),
            **{t.name: t for t in (go_direct(base, {}), grpc_floor(base, {}))},
        },
        stats_urls={HOST_STATS: stats_url} if stats_url else {},
        files_root=files_root,
    )
    if go_plugin_url:
        peer = go_plugin_url.rstrip("/")
        services.targets[GO_PLUGIN] = Target(
            GO_PLUGIN,
            f"{peer}/plugins/{plugin_id}",
            {},
            {
                GO_PLUGIN_HOST: StatsProcess(GO_PLUGIN_STATS, "host"),
                GO_PLUGIN: StatsProcess(GO_PLUGIN_STATS, "plugin"),
            },
            containers=(GO_PLUGIN,),
        )
        services.stats_urls[GO_PLUGIN_STATS] = f"{peer}/debug/stats"
    yield services


@contextlib.contextmanager
def docker_pair(chunk: int) -> Iterator[Services]:
    """A plugin + host container pair (bench/runner/container_pair.py), `chunk` on both sides."""
    from bench.runner import container_pair

    pair = container_pair.start_pair(chunk)
    try:
        with external(pair.host_url, pair.stats_url) as services:
            services.containers = pair.containers
            yield services
    finally:
        container_pair.stop_pair(pair)
