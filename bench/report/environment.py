"""What a figure depends on: versions, CPU count, chunk settings, git commit, the host's Go."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bench.observe.samplers import StatsClient
from bench.runner.stack import HOSTSTUB_BIN, REPO_ROOT


def _command_output(args: list[str], cwd: Path = REPO_ROOT) -> str | None:
    try:
        out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def environment(chunk_sizes: Iterable[int], mode: str) -> dict[str, Any]:
    """Versions, CPU count, chunk settings, git commit: what a figure depends on."""
    import grpc
    import psutil

    # Containers have no .git: the commit comes in as STREAMBENCH_COMMIT there.
    commit = os.environ.get("STREAMBENCH_COMMIT") or _command_output(["git", "rev-parse", "HEAD"])
    dirty = _command_output(["git", "status", "--porcelain"])
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_total_bytes": psutil.virtual_memory().total,
        "go": _command_output(["go", "version"]),
        "hoststub_bin": str(HOSTSTUB_BIN) if HOSTSTUB_BIN.exists() else None,
        "grpcio": grpc.__version__,
        "psutil": psutil.__version__,
        "git_commit": commit,
        "git_dirty": bool(dirty) if dirty is not None else None,
        "chunk_sizes": list(chunk_sizes),
        "mode": mode,
        "hostname": platform.node(),
    }


def host_build(stats_url: str | None) -> dict[str, Any]:
    """What the running host says it was built with (/debug/stats `host.go_version`):
    the Go that matters, also where no `go` command is installed (compose)."""
    if not stats_url:
        return {}
    client = StatsClient(stats_url)
    try:
        host = client.fetch().get("host", {})
    except (OSError, ValueError):
        return {}
    finally:
        client.close()
    version = host.get("go_version") if isinstance(host, Mapping) else None
    return {"host_go_version": version} if isinstance(version, str) else {}
