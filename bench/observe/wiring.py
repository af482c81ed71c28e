"""The one sampler wiring: while inside, the sampler follows some processes, some
services' /debug/stats and (when Docker answers) their containers.

A run wires it once per chunk setting, the capacity ramp once per ramp (or once
for a whole compose stack); both through `observing`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from bench.observe.container_memory import ContainerMemorySampler, start_sampler
from bench.observe.samplers import Sampler, container_figures_reader


@contextlib.contextmanager
def observing(
    sampler: Sampler,
    processes: Mapping[str, int],
    stats_urls: Mapping[str, str | None],
    containers: Mapping[str, Any] | None = None,
    *,
    compose: bool = False,
) -> Iterator[ContainerMemorySampler | None]:
    """Follow `processes` (name -> pid), `stats_urls` (source -> URL) and
    `containers`; yields the container sampler, when there is one."""
    for name, pid in processes.items():
        sampler.add_process(name, pid)
    for source, url in stats_urls.items():
        sampler.set_stats_url(url, source)
    container_sampler = start_sampler(containers or {}, compose=compose)
    if container_sampler is not None:
        sampler.container_reader = container_figures_reader(container_sampler.figures)
    try:
        yield container_sampler
    finally:
        if container_sampler is not None:
            container_sampler.stop()
            sampler.container_reader = None
        for name in processes:
            sampler.remove_process(name)
        for source in stats_urls:
            sampler.set_stats_url(None, source)
