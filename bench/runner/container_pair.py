"""Container pairs for `sweep --docker`: one plugin + host pair per chunk setting.

The same layout and memory cap as compose, through the Docker SDK; the
containers' memory is read by bench/observe/container_memory.py.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from typing import Any

from bench.observe.container_memory import (
    DockerEnvError,
    docker_client,
    own_container,
    parse_mem_limit,
)
from bench.runner.ready import poll_until_ready

PAIR_LABEL = "streambench.pair"
# Image tags docker-compose.yml gives its builds; the sweep reuses them.
PYTHON_IMAGE = os.environ.get("STREAMBENCH_PYTHON_IMAGE", "streambench/python:local")
HOST_IMAGE = os.environ.get("STREAMBENCH_HOST_IMAGE", "streambench/host:local")
PLUGIN_PORT = 50051
HOST_PORT = 8065
DEFAULT_MEM_LIMIT = "128m"


@dataclass
class ContainerPair:
    """One plugin + host pair started by `start_pair`."""

    name: str
    host_url: str
    plugin: Any
    host: Any
    networks: list[Any]
    attached: Any | None = None  # our own container, when we joined the pair's network

    @property
    def stats_url(self) -> str:
        return f"{self.host_url}/debug/stats"

    @property
    def containers(self) -> dict[str, Any]:
        """For `ContainerMemorySampler(pair.containers)`."""
        return {"plugin": self.plugin, "host": self.host}


def _wait_healthy(pair: ContainerPair, timeout_s: float) -> None:
    def check_alive() -> None:
        for container in (pair.plugin, pair.host):
            container.reload()
            if container.status in ("exited", "dead"):
                tail = container.logs(tail=30).decode(errors="replace")
                raise DockerEnvError(f"{container.name} exited before ready:\n{tail}")

    url = f"{pair.host_url}/healthz"
    problem = poll_until_ready(
        url, timeout_s, interval_s=0.5, check_alive=check_alive, request_timeout_s=2.0
    )
    if problem is not None:
        raise DockerEnvError(f"{pair.name}: {url} not ready in {timeout_s}s: {problem}")


def start_pair(
    chunk_bytes: int,
    mem_limit: str | int = DEFAULT_MEM_LIMIT,
    *,
    client: Any | None = None,
    buffered: bool = False,
    python_image: str = PYTHON_IMAGE,
    host_image: str = HOST_IMAGE,
    ready_timeout_s: float = 60.0,
) -> ContainerPair:
    """Starts a plugin + host pair with `chunk_bytes` on both sides, capped at `mem_limit`.

    Same layout as compose: the plugin on an internal network only, the host on it
    and on a public one. From inside a container (compose's bench) we join the
    public network and use the host's name; otherwise the host's port is published
    on 127.0.0.1 at a free port. The images are compose's builds
    (`docker compose build` first).
    """
    client = client or docker_client()
    limit = parse_mem_limit(mem_limit)
    name = f"streambench-pair-{chunk_bytes}-{uuid.uuid4().hex[:6]}"
    labels = {PAIR_LABEL: name}
    internal = client.networks.create(f"{name}-internal", internal=True, labels=labels)
    public = client.networks.create(f"{name}-public", labels=labels)
    pair = ContainerPair(name, "", None, None, [internal, public])
    try:
        me = own_container(client)
        plugin_command = [
            *("python", "-m", "plugin_runtime"),
            *("--app", "plugin_runtime.examples.bench:app"),
            *("--listen", f"0.0.0.0:{PLUGIN_PORT}"),
            *("--max-chunk-bytes", str(chunk_bytes)),
        ]
        pair.plugin = client.containers.run(
            python_image,
            command=plugin_command,
            name=f"{name}-plugin",
            network=internal.name,
            mem_limit=limit,
            memswap_limit=limit,
            labels=labels,
            detach=True,
        )
        pair.host = client.containers.run(
            host_image,
            name=f"{name}-host",
            environment={
                "HOSTSTUB_LISTEN": f"0.0.0.0:{HOST_PORT}",
                "HOSTSTUB_PLUGIN_ADDR": f"{name}-plugin:{PLUGIN_PORT}",
                "HOSTSTUB_PLUGIN_ID": "bench",
                "HOSTSTUB_REQUEST_CHUNK_BYTES": str(chunk_bytes),
                "HOSTSTUB_BUFFERED": "true" if buffered else "false",
            },
            network=public.name,
            ports=None if me is not None else {f"{HOST_PORT}/tcp": ("127.0.0.1", None)},
            mem_limit=limit,
            memswap_limit=limit,
            labels=labels,
            detach=True,
        )
        internal.connect(pair.host)
        if me is not None:
            public.connect(me)
            pair.attached = me
            pair.host_url = f"http://{name}-host:{HOST_PORT}"
        else:
            pair.host.reload()
            binding = pair.host.attrs["NetworkSettings"]["Ports"][f"{HOST_PORT}/tcp"][0]
            pair.host_url = f"http://127.0.0.1:{binding['HostPort']}"
        _wait_healthy(pair, ready_timeout_s)
    except BaseException:
        stop_pair(pair)
        raise
    return pair


def stop_pair(pair: ContainerPair, timeout_s: int = 10) -> None:
    """Stops and removes the pair's containers and networks; safe to call twice."""
    import docker

    for container in (pair.host, pair.plugin):
        if container is None:
            continue
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            container.stop(timeout=timeout_s)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            container.remove(force=True)
    for network in pair.networks:
        if pair.attached is not None:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                network.disconnect(pair.attached, force=True)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            network.remove()
    pair.networks = []
    pair.plugin = pair.host = pair.attached = None
