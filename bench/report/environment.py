"""What a figure depends on: the machine, versions, git commit, and the settings the
processes ran with (the environment knobs given, and what the running host and
plugin report about themselves)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from bench.core.paths import HOSTSTUB_BIN, REPO_ROOT
from bench.observe.samplers import StatsClient, flatten_stats
from bench.results.environment import Environment

# Environment variables that change what the host, the plugin or the Go peer do.
SETTING_PREFIXES = ("HOSTSTUB_", "PLUGIN_", "GOPLUGINHOST_")
SETTING_NAMES = (
    "GOMAXPROCS",
    "GOMEMLIMIT",
    "GOGC",
    "GRPC_EXPERIMENTS",
    "MALLOC_ARENA_MAX",
    "BENCH_PLUGIN_APP",
)
# What the running services report about their own configuration (/debug/stats).
REPORTED_SETTINGS = (
    "host.budget_bytes",
    "host.max_streams",
    "host.admission_max_queue",
    "plugin.max_chunk_bytes",
    "plugin.response_budget_bytes",
)


def _command_output(args: list[str], cwd: Path = REPO_ROOT) -> str | None:
    try:
        out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def tree_dirty(repo: Path = REPO_ROOT) -> bool | None:
    """Whether tracked files differ from the commit, results/ aside: what was measured
    is the code; run folders and baselines may change between runs. None: no git."""
    changes = _command_output(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
        cwd=repo,
    )
    return bool(changes) if changes is not None else None


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU's model name: a figure from another model is another machine's."""
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Processor", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def given_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The knobs set in the environment (paths to binaries included: another binary is
    another setting)."""
    environ = os.environ if environ is None else environ
    return {
        key: value
        for key, value in sorted(environ.items())
        if value and (key.startswith(SETTING_PREFIXES) or key in SETTING_NAMES)
    }


def environment(chunk_sizes: Iterable[int], mode: str) -> Environment:
    """Versions, CPU count, chunk settings, git commit, settings given."""
    import grpc
    import psutil

    # Containers have no .git: the commit comes in as STREAMBENCH_COMMIT there.
    commit = os.environ.get("STREAMBENCH_COMMIT") or _command_output(["git", "rev-parse", "HEAD"])
    return Environment(
        mode=mode,
        python=sys.version.split()[0],
        platform=platform.platform(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        cpu_model=cpu_model(),
        memory_total_bytes=psutil.virtual_memory().total,
        hostname=platform.node(),
        go=_command_output(["go", "version"]),
        hoststub_bin=str(HOSTSTUB_BIN) if HOSTSTUB_BIN.exists() else None,
        grpcio=grpc.__version__,
        psutil=psutil.__version__,
        git_commit=commit,
        git_dirty=tree_dirty(),
        chunk_sizes=list(chunk_sizes),
        settings=given_settings(),
    )


def record_services(env: Environment, stats_url: str | None) -> None:
    """Adds what the running host says about itself: the Go it was built with (also
    where no `go` command is installed: compose) and its and the plugin's limits."""
    if not stats_url:
        return
    client = StatsClient(stats_url)
    try:
        raw = client.fetch()
    except (OSError, ValueError):
        return
    finally:
        client.close()
    host = raw.get("host")
    if isinstance(host, Mapping) and isinstance(host.get("go_version"), str):
        env.host_go_version = host["go_version"]
    flat = flatten_stats(raw)
    for key in REPORTED_SETTINGS:
        if key in flat:
            env.settings[key] = f"{flat[key]:.0f}"
