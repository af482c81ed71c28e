"""Compose runner and paths shared by the container tests (a plain module, so
test files import it without going through conftest)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SOCKET_OVERRIDE = REPO_ROOT / "docker-compose.docker-socket.yml"


def docker_ready() -> str | None:
    """None when `docker info` and `docker compose version` answer, else why not."""
    if shutil.which("docker") is None:
        return "no docker CLI"
    for args in (["docker", "info"], ["docker", "compose", "version"]):
        try:
            proc = subprocess.run(args, capture_output=True, timeout=20, check=False)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(args)}` timed out"
        if proc.returncode != 0:
            return f"`{' '.join(args)}` failed: {proc.stderr.decode(errors='replace')[-300:]}"
    return None


@dataclass
class ComposeProject:
    """`docker compose -p NAME -f docker-compose.yml -f <socket override>` with our env."""

    name: str
    env: dict[str, str] = field(default_factory=dict)

    def command(self, *args: str) -> list[str]:
        files = ["-f", str(COMPOSE_FILE), "-f", str(SOCKET_OVERRIDE)]
        return ["docker", "compose", "-p", self.name, *files, *args]

    def full_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        socket_gid = "0"
        if Path("/var/run/docker.sock").exists():
            socket_gid = str(Path("/var/run/docker.sock").stat().st_gid)
        base = {"UID": str(os.getuid()), "GID": str(os.getgid()), "DOCKER_GID": socket_gid}
        return {**os.environ, **base, **self.env, **(extra or {})}

    def run(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        proc = subprocess.run(
            self.command(*args),
            cwd=REPO_ROOT,
            env=self.full_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        elapsed = time.monotonic() - started
        print(f"$ docker compose {' '.join(args)}  -> {proc.returncode} in {elapsed:.1f}s")
        if check and proc.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
            )
        return proc

    def logs(self) -> str:
        return self.run("logs", "--no-color", "--tail", "60", check=False, timeout=60).stdout

    def down(self) -> None:
        self.run("down", "-v", "--remove-orphans", check=False, timeout=120)
