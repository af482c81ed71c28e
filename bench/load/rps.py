"""Small-request throughput: requests per second at a set concurrency.

N keep-alive connections send 1 KiB GETs back to back for a set time (after
an unmeasured warm-up); the figures are completed requests per second, p50/p99
latency per request, and the CPU each serving process spent per request.

The load comes from `bin/loadgen` (Go, built by scripts/setup.sh) when it is
there: on 2 cores a Python client spends more CPU per request than the servers
it measures, so it, not the server, would set the pace. Without the binary
(e.g. a container image without Go) a threaded Python client stands in and the
result says so (`extra.generator`). Either way the generator's own CPU use
(`extra.client_cpu_cores`) is recorded, to show it was not the bottleneck.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.paths import LOADGEN_BIN
from bench.load.client import Connection, TransferError

GO_GENERATOR = "go-loadgen"
PYTHON_GENERATOR = "python-threads"


@dataclass
class LoadResult:
    """What one load run measured, whichever generator produced it."""

    generator: str
    connections: int
    requests: int
    errors: int
    seconds: float
    client_cpu_seconds: float
    latencies_s: list[float] = field(default_factory=list)
    first_error: str | None = None
    warmup_requests: int = 0  # completed before measuring (they count for CPU per request)

    @property
    def requests_per_s(self) -> float:
        return requests_per_second(self.requests, self.seconds)

    @property
    def client_cpu_cores(self) -> float:
        """How many cores the generator kept busy (1.0 = one core flat out)."""
        return self.client_cpu_seconds / self.seconds if self.seconds > 0 else 0.0


def requests_per_second(requests: int, seconds: float) -> float:
    """Completed requests over the measured time; 0 for an empty or instant run."""
    if requests < 0 or seconds < 0:
        raise ValueError(f"negative requests ({requests}) or seconds ({seconds})")
    return requests / seconds if seconds > 0 else 0.0


def cpu_per_request_us(
    before: Mapping[str, float],
    after: Mapping[str, float],
    processes: Sequence[str],
    requests: int,
) -> dict[str, float]:
    """CPU microseconds (user + system) each process spent per request between two
    readings of {process: CPU seconds}."""
    if requests <= 0:
        return {}
    return {
        name: (after[name] - before[name]) / requests * 1e6
        for name in processes
        if name in before and name in after
    }


def go_load(
    url: str,
    connections: int,
    seconds: float,
    warmup_s: float,
    expect_bytes: int,
    binary: Path = LOADGEN_BIN,
) -> LoadResult:
    """One run of bin/loadgen; its JSON becomes a LoadResult."""
    args = [
        str(binary),
        *("--url", url),
        *("--connections", str(connections)),
        *("--duration", f"{seconds}s"),
        *("--warmup", f"{warmup_s}s"),
        *("--expect-bytes", str(expect_bytes)),
    ]
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=seconds + warmup_s + 60, check=False
    )
    if proc.returncode != 0:
        raise TransferError(f"loadgen exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return parse_loadgen_output(proc.stdout)


def parse_loadgen_output(text: str) -> LoadResult:
    try:
        data = json.loads(text)
        return LoadResult(
            generator=GO_GENERATOR,
            connections=int(data["connections"]),
            requests=int(data["requests"]),
            errors=int(data["errors"]),
            seconds=float(data["seconds"]),
            client_cpu_seconds=float(data["client_cpu_seconds"]),
            latencies_s=[us / 1e6 for us in data.get("latencies_us") or []],
            first_error=data.get("first_error") or None,
            warmup_requests=int(data.get("warmup_requests", 0)),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise TransferError(f"loadgen output unreadable ({exc}): {text[:200]!r}") from exc


def python_load(
    base_url: str,
    path: str,
    connections: int,
    seconds: float,
    warmup_s: float,
    expect_bytes: int,
) -> LoadResult:
    """The stand-in generator: one thread and one keep-alive Connection per connection."""
    latencies: list[float] = []
    errors: list[str] = []
    warm = [0]
    lock = threading.Lock()
    measuring = threading.Event()
    stop_at = [time.perf_counter() + warmup_s + seconds]

    def worker() -> None:
        with Connection(base_url, timeout=30.0) as conn:
            while time.perf_counter() < stop_at[0]:
                counted = measuring.is_set()
                try:
                    resp = conn.request("GET", path)
                    if resp.status != 200 or not resp.complete or resp.body_bytes != expect_bytes:
                        raise TransferError(f"HTTP {resp.status}, {resp.body_bytes} bytes")
                except (TransferError, OSError) as exc:
                    conn.close()
                    if counted:
                        with lock:
                            errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    if counted:
                        latencies.append(resp.seconds)
                    else:
                        warm[0] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    time.sleep(warmup_s)  # the warm-up is a fixed time, not a condition
    cpu_before = time.process_time()
    started = time.perf_counter()
    measuring.set()
    stop_at[0] = started + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return LoadResult(
        generator=PYTHON_GENERATOR,
        connections=connections,
        requests=len(latencies),
        errors=len(errors),
        seconds=elapsed,
        client_cpu_seconds=time.process_time() - cpu_before,
        latencies_s=latencies,
        first_error=errors[0] if errors else None,
        warmup_requests=warm[0],
    )


def run_load(
    base_url: str,
    path: str,
    connections: int,
    seconds: float,
    warmup_s: float,
    expect_bytes: int,
    binary: Path = LOADGEN_BIN,
) -> LoadResult:
    """bin/loadgen when built, else the Python stand-in."""
    if binary.is_file() and os.access(binary, os.X_OK):
        return go_load(base_url + path, connections, seconds, warmup_s, expect_bytes, binary)
    return python_load(base_url, path, connections, seconds, warmup_s, expect_bytes)


Reading = Callable[[], Mapping[str, float]]


def measure(
    base_url: str,
    path: str,
    *,
    connections: int,
    seconds: float,
    warmup_s: float,
    expect_bytes: int,
    processes: Sequence[str],
    read_processes: Reading,
    binary: Path = LOADGEN_BIN,
) -> tuple[LoadResult, dict[str, Any]]:
    """One load run plus its figures for a scenario's `extra`.

    read_processes returns {process: CPU seconds} (bench/observe/cpu.py: cpu_now),
    read right before and after the run; the CPU is divided by every request
    served in between, warm-up included.
    """
    before = read_processes()
    result = run_load(base_url, path, connections, seconds, warmup_s, expect_bytes, binary)
    after = read_processes()
    served = result.requests + result.warmup_requests
    extra: dict[str, Any] = {
        "generator": result.generator,
        "connections": result.connections,
        "requests_per_s": result.requests_per_s,
        "requests_completed": result.requests,
        "warmup_requests": result.warmup_requests,
        "errors": result.errors,
        "first_error": result.first_error,
        "client_cpu_cores": result.client_cpu_cores,
        "cpu_us_per_request": cpu_per_request_us(before, after, processes, served),
    }
    return result, extra
