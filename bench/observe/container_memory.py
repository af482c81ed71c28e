"""Container memory through the Docker SDK, read while the bench runs.

In compose (`docker-compose.docker-socket.yml` mounts the engine's socket into
the bench), and around the container pairs of `sweep --docker`
(bench/runner/container_pair.py), `ContainerMemorySampler` follows the
`plugin` and `host` containers' memory and reports, per service, the working
set (what `docker stats` shows), its peak, the cap, and whether the kernel
OOM-killed it. Whether that passes is the record's rule
(bench/results/run.py: `ContainerFigures.held`).

cgroup v1 and v2 report memory differently; `parse_memory_stats` reads both:

* v1: `usage`, `max_usage` (the kernel's peak, page cache included),
  `stats.total_inactive_file`;
* v2: `usage`, `stats.inactive_file`, no peak at all, so the peak is the
  largest sample we took.

The working set is `usage - inactive_file`, the figure the Docker CLI shows:
reclaimable page cache is not memory the process holds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from bench.core.units import parse_size
from bench.results.containers import ContainerFigures

log = logging.getLogger(__name__)

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
DEFAULT_PROJECT = "streambench"


class DockerEnvError(RuntimeError):
    """The Docker engine, a container or its stats were not what we need."""


def parse_mem_limit(value: str | int) -> int:
    """Bytes of a compose-style memory size: `128m`, `1g`, `512k`, `134217728`."""
    return parse_size(value, "memory size")


@dataclass(frozen=True)
class MemorySample:
    """One reading of a container's memory cgroup."""

    cgroup: Literal["v1", "v2"]
    usage_bytes: int  # raw cgroup usage, page cache included
    working_set_bytes: int  # usage minus inactive file: what `docker stats` shows
    limit_bytes: int
    max_usage_bytes: int | None  # kernel's peak of raw usage (cgroup v1 only)


def parse_memory_stats(stats: Mapping[str, Any]) -> MemorySample:
    """The memory part of `container.stats(stream=False)`, cgroup v1 or v2.

    Raises DockerEnvError when there is no memory reading (a stopped container
    returns an empty `memory_stats`).
    """
    memory = stats.get("memory_stats") or {}
    if "usage" not in memory or "limit" not in memory:
        raise DockerEnvError(
            f"no memory reading in stats of container {stats.get('name', '?')!r} (not running?)"
        )
    usage = int(memory["usage"])
    detail = memory.get("stats") or {}
    # v1 exposes hierarchical totals (total_*), v2 only flat keys; `max_usage` is v1 only.
    if "total_inactive_file" in detail or "max_usage" in memory:
        cgroup: Literal["v1", "v2"] = "v1"
        inactive = int(detail.get("total_inactive_file", detail.get("inactive_file", 0)))
    else:
        cgroup = "v2"
        inactive = int(detail.get("inactive_file", 0))
    # Same guard as the Docker CLI: never report a negative working set.
    working_set = usage - inactive if inactive < usage else usage
    max_usage = memory.get("max_usage")
    return MemorySample(
        cgroup=cgroup,
        usage_bytes=usage,
        working_set_bytes=working_set,
        limit_bytes=int(memory["limit"]),
        max_usage_bytes=int(max_usage) if max_usage is not None else None,
    )


class ContainerMemory(ContainerFigures):
    """A ContainerFigures record filled while a run samples one service's container."""

    def observe(self, sample: MemorySample) -> None:
        self.samples += 1
        self.cgroup = sample.cgroup
        self.limit_bytes = sample.limit_bytes
        self.last_bytes = sample.working_set_bytes
        self.peak_bytes = max(self.peak_bytes, sample.working_set_bytes)
        if sample.max_usage_bytes is not None:
            self.max_usage_bytes = max(self.max_usage_bytes or 0, sample.max_usage_bytes)

    def observe_state(self, attrs: Mapping[str, Any]) -> None:
        """OOM kill, restarts and exit status from `container.attrs` (after reload)."""
        state = attrs.get("State") or {}
        self.oom_killed = self.oom_killed or bool(state.get("OOMKilled", False))
        self.restart_count = int(attrs.get("RestartCount", 0) or 0)
        self.running = bool(state.get("Running", False))
        self.exit_code = None if self.running else int(state.get("ExitCode", 0) or 0)
        # An OOM kill ends in 137 (SIGKILL) even when the flag was reset by a restart.
        if self.exit_code == 137:
            self.oom_killed = True

    def record(self) -> ContainerFigures:
        """A copy as the plain results record."""
        return ContainerFigures(**{f.name: getattr(self, f.name) for f in fields(ContainerFigures)})


def _oom_state(attrs: Mapping[str, Any]) -> tuple[bool, str]:
    """(OOMKilled, StartedAt) of a container's state."""
    state = attrs.get("State") or {}
    return bool(state.get("OOMKilled", False)), str(state.get("StartedAt", ""))


def docker_client(timeout: float = 30.0) -> Any:
    """A `docker.DockerClient` from the environment (DOCKER_HOST or the default socket)."""
    import docker  # the bench extra; imported here so the bench runs without it

    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerEnvError(f"Docker engine not reachable: {exc}") from exc
    return client


def own_container(client: Any) -> Any | None:
    """This process's container when it runs in one (its hostname is the short id)."""
    import docker

    try:
        return client.containers.get(socket.gethostname())
    except (docker.errors.NotFound, docker.errors.APIError):
        return None


def compose_project(client: Any, project: str | None = None) -> str:
    """Project name: given > STREAMBENCH_COMPOSE_PROJECT > our own container's label."""
    if project:
        return project
    if env := os.environ.get("STREAMBENCH_COMPOSE_PROJECT"):
        return env
    me = own_container(client)
    if me is not None and (label := me.labels.get(COMPOSE_PROJECT_LABEL)):
        return str(label)
    return DEFAULT_PROJECT


def find_service_containers(client: Any, service: str, project: str) -> list[Any]:
    """Containers of one compose service (stopped ones too: an OOM-killed one has exited)."""
    labels = [f"{COMPOSE_PROJECT_LABEL}={project}", f"{COMPOSE_SERVICE_LABEL}={service}"]
    return list(client.containers.list(all=True, filters={"label": labels}))


def read_memory(container: Any) -> MemorySample:
    """One memory reading; one_shot skips the engine's 1 s wait for a CPU delta."""
    try:
        stats = container.stats(stream=False, one_shot=True)
    except TypeError:  # older SDKs have no one_shot
        stats = container.stats(stream=False)
    return parse_memory_stats(stats)


@dataclass
class ContainerMemorySampler:
    """Samples the memory of named containers, one background thread each.

    The engine answers a stats request with its next collection, about once a
    second per container, and the SDK blocks meanwhile: read one after the other,
    three containers would each be read every three seconds. A thread per
    container reads each as often as the engine collects. `stop()` joins them.
    Use as a context manager around the measured work.
    """

    containers: Mapping[str, Any]  # service name -> docker Container
    interval_s: float = 0.25
    figures: dict[str, ContainerMemory] = field(init=False)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _threads: list[threading.Thread] = field(init=False, default_factory=list)
    # Per service, (OOMKilled, StartedAt) when sampling began: the engine keeps the
    # flag of a kill until the container is removed, even across a restart.
    _at_start: dict[str, tuple[bool, str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.figures = {
            service: ContainerMemory(service=service, container=str(c.name))
            for service, c in self.containers.items()
        }

    @classmethod
    def for_compose(
        cls,
        client: Any,
        services: Iterable[str] = ("plugin", "host"),
        project: str | None = None,
        interval_s: float = 0.25,
        optional: Iterable[str] = ("go-plugin",),
    ) -> ContainerMemorySampler:
        """The project's containers of `services` (each required) and of `optional`
        services (followed when the project runs them)."""
        name = compose_project(client, project)
        found: dict[str, Any] = {}
        for service in [*services, *optional]:
            containers = find_service_containers(client, service, name)
            if containers:
                found[service] = containers[0]
            elif service not in optional:
                raise DockerEnvError(f"no container of service {service!r} in project {name!r}")
        return cls(found, interval_s=interval_s)

    def sample_once(self) -> None:
        for service in self.containers:
            self._sample(service)

    def _sample(self, service: str) -> None:
        try:
            self.figures[service].observe(read_memory(self.containers[service]))
        except DockerEnvError:
            pass  # not running (e.g. just OOM-killed): the state check says so
        except Exception as exc:  # the engine hiccuped; keep sampling
            log.warning("memory sample of %s failed: %s", service, exc)

    def _run(self, service: str) -> None:
        while not self._stop.is_set():
            self._sample(service)
            self._stop.wait(self.interval_s)

    def start(self) -> ContainerMemorySampler:
        for service, container in self.containers.items():
            try:
                container.reload()
                self._at_start[service] = _oom_state(container.attrs)
            except Exception as exc:  # the state check at the end still runs
                log.warning("state of %s unavailable: %s", service, exc)
        for service in self.containers:
            thread = threading.Thread(
                target=self._run, args=(service,), name=f"container-memory-{service}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def wait_first_samples(self, timeout_s: float = 30.0) -> bool:
        """Waits until every container has been read once (the Docker API takes a
        while per container): a measurement window opened before that would have no
        figure for the containers not read yet. False when the timeout passed first."""
        deadline = time.monotonic() + timeout_s
        while not all(figure.samples for figure in self.figures.values()):
            if time.monotonic() >= deadline or self._stop.wait(0.05):
                return False
        return True

    def stop(self) -> dict[str, ContainerMemory]:
        """Stops sampling, takes a last reading and the containers' final state."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        self.sample_once()
        for service, container in self.containers.items():
            try:
                container.reload()
                figure = self.figures[service]
                figure.observe_state(container.attrs)
                killed_before, started = self._at_start.get(service, (False, ""))
                if figure.running and killed_before and _oom_state(container.attrs)[1] == started:
                    # A kill before this run: the container has not stopped since.
                    figure.oom_killed = False
            except Exception as exc:
                log.warning("state of %s unavailable: %s", service, exc)
        return self.figures

    def records(self) -> dict[str, ContainerFigures]:
        """Per service, a copy of its figures as the plain results record."""
        return {service: figure.record() for service, figure in self.figures.items()}

    def report(self) -> dict[str, dict[str, Any]]:
        """Per service, its figures as JSON (what a log line or a summary prints)."""
        return {service: record.to_json() for service, record in self.records().items()}

    def __enter__(self) -> ContainerMemorySampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sampler(containers: Mapping[str, Any], compose: bool) -> ContainerMemorySampler | None:
    """A running sampler of the given containers, or of compose's `plugin` and `host` when
    `compose` and the engine's socket is mounted; None when Docker does not answer."""
    try:
        if containers:
            return ContainerMemorySampler(containers).start()
        if compose and os.path.exists("/var/run/docker.sock"):
            return ContainerMemorySampler.for_compose(docker_client(timeout=5)).start()
    except Exception as exc:  # Docker absent or not compose: psutil/stats still measure
        log.info("no container memory: %s", exc)
    return None
