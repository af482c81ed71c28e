"""CPU seconds of the processes serving a target, read right when asked.

The sampler's periodic samples are enough for a memory peak, not for the CPU a
transfer of a few MiB costs: it lasts a few ticks. So what is measured (a
transfer, a load run) is bracketed by two readings of its own, taken at its
start and at its end: the processes' CPU clocks when the bench started them
(bench/observe/samplers.py: `process_cpu_seconds`), else a fresh `/debug/stats`
of the running services (`cpu_seconds`: getrusage in the host, psutil in the
plugin). The bench's own client is read beside them as `loadgen`.
"""

from __future__ import annotations

import os

import psutil

from bench.core.targets import Target
from bench.observe.samplers import LOADGEN, Sampler, process_cpu_seconds


def cpu_now(sampler: Sampler, target: Target, *, client: bool = True) -> dict[str, float]:
    """{process: CPU seconds so far} of the target's processes (and, with `client`, of
    the bench itself); a process that is gone or a stats figure missing is left out."""
    out: dict[str, float] = {}
    pids = {**target.processes, **({LOADGEN: os.getpid()} if client else {})}
    for name, pid in pids.items():
        try:
            out[name] = process_cpu_seconds(psutil.Process(pid))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    if not target.processes and target.stats_processes:
        taken = sampler.sample_now()  # every source now, stats included
        for name, where in target.stats_processes.items():
            value = taken.get(where.source, {}).get(where.key("cpu_seconds"))
            if value is not None and value >= 0:  # the host says -1 when it cannot tell
                out[name] = value
    return out


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process spent between two readings (those read both times)."""
    return {name: after[name] - start for name, start in before.items() if name in after}
