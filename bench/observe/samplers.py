"""Samplers: memory and counters over time, in a background thread, apart from scenarios.

Sources, each optional:
- psutil on PIDs the bench spawned (host, plugin, references) and on the load generator
  itself: RSS and CPU every tick; USS (reads smaps, costly) only on demand;
- GET /debug/stats of each running service, by source name (`stats` for the host,
  `stats:go-plugin` for the Go plugin's host): memory, CPU, goroutines, handlers,
  tasks, fds;
- container memory through bench/observe/container_memory.py when Docker answers.

Scenarios mark windows on the shared timeline (`mark`), and reports slice the
series by those windows, so one sampler serves a whole run.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psutil

from bench.core.targets import HOST_STATS

log = logging.getLogger(__name__)

LOADGEN = "loadgen"
DEFAULT_INTERVAL_S = 0.05
DEFAULT_STATS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class Sample:
    """One reading: t is seconds on the run's clock (time.monotonic() - start)."""

    t: float
    source: str  # process name ("host", "loadgen", ...), a stats source, "container:<name>"
    values: Mapping[str, float]


def flatten_stats(stats: Mapping[str, Any]) -> dict[str, float]:
    """/debug/stats JSON -> {"host.rss_bytes": ..., "plugin.active_handlers": ...}.

    A plugin that is unreachable reports {"error": ...}; its numbers are then absent.
    """
    flat: dict[str, float] = {}
    for side in ("host", "plugin"):
        obj = stats.get(side)
        if not isinstance(obj, Mapping):
            continue
        for key, value in obj.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                flat[f"{side}.{key}"] = float(value)
    return flat


class StatsClient:
    """GET /debug/stats over one persistent connection (no connection churn in the host)."""

    def __init__(self, stats_url: str, timeout: float = 2.0) -> None:
        parts = urlsplit(stats_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"stats URL must be http://host:port/path, not {stats_url!r}")
        self.url = stats_url
        self._host = parts.hostname
        self._port = parts.port or 80
        self._path = parts.path or "/debug/stats"
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def fetch(self) -> dict[str, Any]:
        """The stats JSON; raises OSError/ValueError with the URL on failure."""
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._host, self._port, self._timeout)
            try:
                self._conn.request("GET", self._path)
                resp = self._conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise OSError(f"GET {self.url}: HTTP {resp.status}")
                return dict(json.loads(body))
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 1:
                    raise OSError(f"GET {self.url}: {exc}") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def fetch_collected(self, timeout: float = 30.0) -> dict[str, Any]:
        """The stats JSON after a forced garbage collection on both sides (?gc=1).

        On its own connection with a longer timeout: the collection walks both heaps.
        """
        conn = http.client.HTTPConnection(self._host, self._port, timeout)
        try:
            conn.request("GET", f"{self._path}?gc=1")
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise OSError(f"GET {self.url}?gc=1: HTTP {resp.status}")
            return dict(json.loads(body))
        except (OSError, http.client.HTTPException) as exc:
            raise OSError(f"GET {self.url}?gc=1: {exc}") from exc
        finally:
            conn.close()


def process_cpu_seconds(proc: psutil.Process) -> float:
    """CPU seconds (user + system) the process has spent, every thread's (ended ones too).

    On Linux from the process's CPU-time clock (clock_gettime on the clock id the
    kernel derives from a pid, MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)): the
    scheduler's nanosecond count, where psutil's cpu_times counts 10 ms clock ticks,
    as long as a whole small transfer. Elsewhere, or when the clock is refused: psutil.
    """
    if sys.platform == "linux":
        try:
            return time.clock_gettime((~proc.pid << 3) | 2)
        except OSError:
            pass  # the process is gone: psutil says so in its own terms
    cpu = proc.cpu_times()
    return float(cpu.user + cpu.system)


def process_reading(proc: psutil.Process, with_uss: bool = False) -> dict[str, float]:
    """RSS (and optionally USS), CPU seconds (user + system), threads and fds of one process."""
    with proc.oneshot():
        values: dict[str, float] = {
            "rss_bytes": float(proc.memory_info().rss),
            "cpu_seconds": process_cpu_seconds(proc),
            "threads": float(proc.num_threads()),
        }
        try:
            values["open_fds"] = float(proc.num_fds())
        except (psutil.AccessDenied, AttributeError):
            pass
        io = getattr(proc, "io_counters", None)
        if io is not None:
            try:
                counters = io()
                # read_chars/write_chars include socket reads/writes (Linux rchar/wchar).
                values["read_chars"] = float(getattr(counters, "read_chars", 0))
                values["write_chars"] = float(getattr(counters, "write_chars", 0))
            except (psutil.AccessDenied, NotImplementedError):
                pass
    if with_uss:
        try:
            values["uss_bytes"] = float(proc.memory_full_info().uss)
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            pass
    return values


ContainerReader = Callable[[], Mapping[str, float]]


def container_figures_reader(figures: Mapping[str, Any]) -> ContainerReader:
    """Reads the latest working set of each container from a
    bench.observe.container_memory.ContainerMemorySampler's `figures` (which samples in its own
    thread: the Docker API is too slow for our 50 ms tick)."""

    def reader() -> Mapping[str, float]:
        return {
            f"{service}.working_set_bytes": float(figure.last_bytes)
            for service, figure in figures.items()
            if figure.samples
        }

    return reader


@dataclass
class Window:
    """A named span of the timeline (one scenario run)."""

    name: str
    start: float
    end: float | None = None


@dataclass
class Timeline:
    """All samples and windows of a run; appended by the sampler thread, read after."""

    samples: list[Sample] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def series(self, source: str, key: str, start: float = 0.0, end: float = float("inf")):
        """[(t, value)] of one source's key between start and end (inclusive)."""
        return [
            (s.t, s.values[key])
            for s in list(self.samples)
            if s.source == source and start <= s.t <= end and key in s.values
        ]

    def sources(self) -> list[str]:
        return sorted({s.source for s in list(self.samples)})


class Sampler:
    """Background sampling of processes (psutil), /debug/stats and containers.

    Use as a context manager; `sample_now()` takes a synchronous reading (scenario
    boundaries), `mark(name)` opens/closes windows.
    """

    def __init__(
        self,
        processes: Mapping[str, int] | None = None,
        stats_url: str | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        stats_interval_s: float = DEFAULT_STATS_INTERVAL_S,
        container_reader: ContainerReader | None = None,
        include_loadgen: bool = True,
    ) -> None:
        self.interval_s = interval_s
        self.stats_interval_s = stats_interval_s
        self._procs: dict[str, psutil.Process] = {}
        for name, pid in (processes or {}).items():
            self._procs[name] = psutil.Process(pid)
        if include_loadgen:
            self._procs[LOADGEN] = psutil.Process(os.getpid())
        self._stats: dict[str, StatsClient] = {}
        if stats_url:
            self._stats[HOST_STATS] = StatsClient(stats_url)
        self.container_reader = container_reader
        self.timeline = Timeline()
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one reading at a time (sampler thread vs sample_now)
        self._thread: threading.Thread | None = None
        self._last_stats = -1e9

    def now(self) -> float:
        return time.monotonic() - self._t0

    def add_process(self, name: str, pid: int) -> None:
        with self._lock:
            self._procs[name] = psutil.Process(pid)

    def set_stats_url(self, stats_url: str | None, source: str = HOST_STATS) -> None:
        """Follow a service's /debug/stats under `source` (None: stop following it);
        one host/plugin pair per chunk setting means another URL per setting."""
        with self._lock:
            old = self._stats.pop(source, None)
            if old is not None:
                old.close()
            if stats_url:
                self._stats[source] = StatsClient(stats_url)

    def remove_process(self, name: str) -> None:
        with self._lock:
            self._procs.pop(name, None)

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.sample_now()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        for client in self._stats.values():
            client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_now(stats=self.now() - self._last_stats >= self.stats_interval_s)

    def sample_now(self, stats: bool = True, with_uss: bool = False) -> dict[str, dict[str, float]]:
        """Take one reading of every source now; returns {source: values}."""
        taken: dict[str, dict[str, float]] = {}
        with self._lock:
            t = self.now()
            for name, proc in list(self._procs.items()):
                try:
                    taken[name] = process_reading(proc, with_uss=with_uss)
                except (psutil.NoSuchProcess, psutil.ZombieProcess):
                    self._error(f"process {name} (pid {proc.pid}) is gone")
                    self._procs.pop(name, None)
            if stats and self._stats:
                self._last_stats = t
                for source, client in self._stats.items():
                    try:
                        taken[source] = flatten_stats(client.fetch())
                    except (OSError, ValueError) as exc:
                        self._error(str(exc))
            if self.container_reader is not None:
                try:
                    for key, value in self.container_reader().items():
                        name, _, metric = key.partition(".")
                        taken.setdefault(f"container:{name}", {})[metric] = value
                except Exception as exc:  # Docker errors must not kill the sampler
                    self._error(f"container memory: {exc}")
            for source, values in taken.items():
                self.timeline.samples.append(Sample(t, source, values))
        return taken

    def _error(self, message: str) -> None:
        if message not in self.timeline.errors[-5:]:
            log.warning("sampler: %s", message)
        self.timeline.errors.append(message)

    def mark(self, name: str) -> Window:
        """Open a window starting now (after a fresh reading)."""
        window = Window(name, self.now())
        self.sample_now()  # its reading is the window's baseline
        self.timeline.windows.append(window)
        return window

    def close(self, window: Window) -> None:
        self.sample_now()
        window.end = self.now()

    def collected_stats(self, source: str = HOST_STATS) -> dict[str, float]:
        """/debug/stats after a forced GC on host and plugin (flattened), also added to
        the timeline; {} when there is no such stats URL. Never on a timer: only the
        leak soak asks, between rounds."""
        with self._lock:
            client = self._stats.get(source)
            if client is None:
                return {}
            t = self.now()
            try:
                values = flatten_stats(client.fetch_collected())
            except (OSError, ValueError) as exc:
                self._error(str(exc))
                return {}
            self.timeline.samples.append(Sample(t, source, values))
        return values

    def latest_stats(self, source: str = HOST_STATS) -> dict[str, float]:
        """A fresh /debug/stats reading (flattened), or {} when there is no such URL."""
        if source not in self._stats:
            return {}
        return self.sample_now().get(source, {})


def window_growth(
    timeline: Timeline, source: str, key: str, window: Window
) -> tuple[float, float, int] | None:
    """(peak growth over the value at window start, peak value, sample count) or None."""
    end = window.end if window.end is not None else float("inf")
    points = timeline.series(source, key, window.start, end)
    if not points:
        return None
    baseline = points[0][1]
    peak = max(v for _, v in points)
    return peak - baseline, peak, len(points)


def window_delta(timeline: Timeline, source: str, key: str, window: Window) -> float | None:
    """Last minus first value of a counter (e.g. cpu_seconds) within the window, or None."""
    end = window.end if window.end is not None else float("inf")
    points = timeline.series(source, key, window.start, end)
    if len(points) < 2:
        return None
    return points[-1][1] - points[0][1]
