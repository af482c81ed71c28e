"""Start the host stub and a plugin as child processes, the way a user would.

Shared by the bench (native runs) and the end-to-end tests, so both exercise
exactly the documented command lines:

    python -m plugin_runtime --app MODULE:ATTR --listen unix:/path.sock
    bin/hoststub --listen 127.0.0.1:PORT --plugin-addr unix:/path.sock --plugin-id bench
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.core.paths import HOSTSTUB_BIN, REPO_ROOT
from bench.runner.ready import poll_until_ready

DEMO_APP = "plugin_runtime.examples.bench:app"
DEFAULT_PLUGIN_ID = "bench"
READY_TIMEOUT_S = 30.0


class StackError(RuntimeError):
    """The host or plugin did not start, with the log tail saying why."""


def free_tcp_port() -> int:
    """A loopback port that was free a moment ago (the usual bind-to-0 trick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """A running host + plugin pair."""

    host_url: str
    plugin_id: str
    plugin_addr: str
    host: subprocess.Popen[bytes]
    plugin: subprocess.Popen[bytes]
    log_dir: Path

    @property
    def plugin_url(self) -> str:
        """Base URL of the plugin's routes through the host, e.g. .../plugins/bench."""
        return f"{self.host_url}/plugins/{self.plugin_id}"

    @property
    def stats_url(self) -> str:
        return f"{self.host_url}/debug/stats"

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_ready(
    url: str, procs: Sequence[subprocess.Popen[bytes]], timeout: float = READY_TIMEOUT_S
) -> None:
    """Poll url until it answers 200; fail at once if one of procs exits first."""

    def check_alive() -> None:
        for proc in procs:
            if proc.poll() is not None:
                raise StackError(f"{proc.args!r} exited with {proc.returncode} before ready")

    problem = poll_until_ready(url, timeout, interval_s=0.05, check_alive=check_alive)
    if problem is not None:
        raise StackError(f"{url} not ready after {timeout:.0f}s: {problem}")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM (the graceful path every process of ours handles), then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_plugin(
    listen: str,
    log_dir: Path,
    app: str = DEMO_APP,
    plugin_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    python: str | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `python -m plugin_runtime` (separately, so tests can kill and restart it).

    python: another interpreter (a venv with other versions); cwd: another checkout,
    whose plugin_runtime it then imports (it is put first on PYTHONPATH too)."""
    child_env = {**os.environ, **(env or {})}
    if cwd is not None:
        child_env["PYTHONPATH"] = str(cwd)
    # The child keeps its own copy of the log fd, so ours can close at once.
    with (log_dir / "plugin.log").open("ab") as log:
        return subprocess.Popen(
            [
                python or sys.executable,
                "-m",
                "plugin_runtime",
                "--app",
                app,
                "--listen",
                listen,
                *plugin_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd or REPO_ROOT,
            env=child_env,
        )


@contextlib.contextmanager
def run_stack(
    app: str = DEMO_APP,
    plugin_id: str = DEFAULT_PLUGIN_ID,
    transport: str = "unix",
    host_args: Sequence[str] = (),
    plugin_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
    *,
    plugin_python: str | None = None,
    plugin_cwd: Path | None = None,
    host_bin: Path | None = None,
) -> Iterator[Stack]:
    """Start plugin then host, wait for the host's /healthz, yield, stop both.

    transport: "unix" (a socket in a private temp dir) or "tcp" (loopback port).
    Logs go to log_dir/{plugin,host}.log (a temp dir when not given). plugin_python,
    plugin_cwd and host_bin start another build of either side (an A/B variant).
    """
    host_bin = host_bin or HOSTSTUB_BIN
    if not host_bin.exists():
        raise StackError(f"{host_bin} not found: run scripts/setup.sh (go build) first")
    with tempfile.TemporaryDirectory(prefix="streambench-") as tmp:
        logs = Path(log_dir) if log_dir else Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        if transport == "unix":
            plugin_addr = f"unix:{tmp}/plugin.sock"
        elif transport == "tcp":
            plugin_addr = f"127.0.0.1:{free_tcp_port()}"
        else:
            raise ValueError(f"transport must be 'unix' or 'tcp', not {transport!r}")
        host_port = free_tcp_port()
        merged_env = {**os.environ, **(env or {})}
        plugin = start_plugin(plugin_addr, logs, app, plugin_args, env, plugin_python, plugin_cwd)
        with (logs / "host.log").open("ab") as host_log:
            host = subprocess.Popen(
                [
                    str(host_bin),
                    "--listen",
                    f"127.0.0.1:{host_port}",
                    "--plugin-addr",
                    plugin_addr,
                    "--plugin-id",
                    plugin_id,
                    *host_args,
                ],
                stdout=host_log,
                stderr=subprocess.STDOUT,
                env=merged_env,
            )
        stack = Stack(
            host_url=f"http://127.0.0.1:{host_port}",
            plugin_id=plugin_id,
            plugin_addr=plugin_addr,
            host=host,
            plugin=plugin,
            log_dir=logs,
        )
        try:
            try:
                wait_ready(f"{stack.host_url}/healthz", [host, plugin], READY_TIMEOUT_S)
            except StackError as exc:
                raise StackError(
                    f"{exc}\n--- host log ---\n{stack.log_tail('host')}"
                    f"\n--- plugin log ---\n{stack.log_tail('plugin')}"
                ) from exc
            yield stack
        finally:
            stop_process(stack.host)
            stop_process(stack.plugin)
