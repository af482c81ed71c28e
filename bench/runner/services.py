"""The services a run measures: the bridge and its references, spawned or given.

Spawned (default): bench/runner/stack.py's host + plugin pair for the chunk setting,
plus on request the Python-direct reference (uvicorn serving the demo handler)
and a second host in --buffered mode against the same plugin.
External (--target-url/--stats-url, e.g. compose): no PIDs, only HTTP.
Docker (sweep --docker): a plugin + host container pair per chunk setting.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.runner import stack as stack_mod
from bench.runner.targets import BRIDGE, BUFFERED, GO_DIRECT, PYTHON_DIRECT, Target


@dataclass
class Services:
    targets: dict[str, Target]
    stats_url: str | None
    processes: dict[str, int] = field(default_factory=dict)  # name -> pid, spawned only
    containers: dict[str, Any] = field(default_factory=dict)  # service -> docker Container


@contextlib.contextmanager
def _child(args: list[str], log: Path, ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=stack_mod.REPO_ROOT)
    try:
        try:
            stack_mod.wait_ready(ready_url, [proc])
        except stack_mod.StackError as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise stack_mod.StackError(f"{exc}\n{tail}") from exc
        yield proc
    finally:
        stack_mod.stop_process(proc)


# The plugin app a spawned run serves; another one only to test the bench itself
# (e.g. plugin_runtime.examples.leaky:app, the planted leak the soak must catch).
PLUGIN_APP_ENV = "BENCH_PLUGIN_APP"


@contextlib.contextmanager
def spawned(chunk: int, log_dir: Path, references: set[str]) -> Iterator[Services]:
    """host + plugin with `chunk` on both sides, plus the wanted references."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as exits:
        stack = exits.enter_context(
            stack_mod.run_stack(
                app=os.environ.get(PLUGIN_APP_ENV) or stack_mod.DEMO_APP,
                host_args=["--request-chunk-bytes", str(chunk)],
                plugin_args=["--max-chunk-bytes", str(chunk)],
                log_dir=log_dir,
            )
        )
        host_pid, plugin_pid = stack.host.pid, stack.plugin.pid
        services = Services(
            targets={
                BRIDGE: Target(BRIDGE, stack.plugin_url, {"host": host_pid, "plugin": plugin_pid}),
                GO_DIRECT: Target.go_direct(stack.host_url, {"host": host_pid}),
            },
            stats_url=stack.stats_url,
            processes={"host": host_pid, "plugin": plugin_pid},
        )
        if PYTHON_DIRECT in references:
            port = stack_mod.free_tcp_port()
            uvicorn = exits.enter_context(
                _child(
                    [
                        sys.executable,
                        *("-m", "uvicorn", "plugin_runtime.examples.bench:asgi"),
                        *("--host", "127.0.0.1", "--port", str(port)),
                        *("--log-level", "warning", "--no-access-log"),
                    ],
                    log_dir / "python-direct.log",
                    f"http://127.0.0.1:{port}/download?size=1&chunk=1",
                )
            )
            services.targets[PYTHON_DIRECT] = Target(
                PYTHON_DIRECT, f"http://127.0.0.1:{port}", {"python-direct": uvicorn.pid}
            )
            services.processes["python-direct"] = uvicorn.pid
        if BUFFERED in references:
            port = stack_mod.free_tcp_port()
            buffered = exits.enter_context(
                _child(
                    [
                        str(stack_mod.HOSTSTUB_BIN),
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
        yield services


@contextlib.contextmanager
def external(
    target_url: str, stats_url: str | None, plugin_id: str = "bench"
) -> Iterator[Services]:
    """Running services (compose): the host's base URL; the go-direct reference is on it too."""
    base = target_url.rstrip("/")
    yield Services(
        targets={
            BRIDGE: Target(BRIDGE, f"{base}/plugins/{plugin_id}"),
            GO_DIRECT: Target.go_direct(base, {}),
        },
        stats_url=stats_url,
    )


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
