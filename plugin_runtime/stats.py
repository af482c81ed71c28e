"""Handler counters and process figures served by streambench.v1.PluginStatsService."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import psutil

from plugin_runtime._proto import bench_stats_pb2 as stats_pb
from plugin_runtime._proto import bench_stats_pb2_grpc as stats_grpc
from plugin_runtime.memory import return_free_heap


@dataclass
class HandlerCounters:
    """Counted by the ServeHTTP servicer; read by GetStats (same event loop, no locks)."""

    max_chunk_bytes: int
    active: int = 0
    total: int = 0
    cancelled: int = 0
    failed: int = 0
    _process: psutil.Process = field(default_factory=psutil.Process, repr=False)
    # Set by the server: the response budget's figures (bytes, slots, sending, waiting).
    budget_figures: Callable[[], tuple[int, int, int, int]] | None = field(default=None, repr=False)

    def snapshot(self, collect_garbage: bool = False) -> stats_pb.PluginStats:
        """Process figures now; with collect_garbage, after a full collection and
        with freed heap handed back to the OS (so RSS is comparable between rounds).

        The collection runs on the event loop (it must: objects are not
        thread-safe to walk) and pauses it for milliseconds; the bench asks for it
        only between leak-soak rounds, when no handler runs.
        """
        gc_objects = None
        if collect_garbage:
            gc.collect()
            gc_objects = len(gc.get_objects())
            return_free_heap()
        allocated_blocks = sys.getallocatedblocks()
        process = self._process
        budget_bytes, slots, sending, waiting = (
            self.budget_figures() if self.budget_figures else (0, 0, 0, 0)
        )
        with process.oneshot():
            cpu = process.cpu_times()
            return stats_pb.PluginStats(
                rss_bytes=process.memory_info().rss,
                threads=process.num_threads(),
                open_fds=process.num_fds(),
                active_handlers=self.active,
                asyncio_tasks=len(asyncio.all_tasks()),
                handlers_total=self.total,
                handlers_cancelled=self.cancelled,
                handlers_failed=self.failed,
                pid=os.getpid(),
                max_chunk_bytes=self.max_chunk_bytes,
                allocated_blocks=allocated_blocks,
                gc_objects=gc_objects,
                cpu_seconds=cpu.user + cpu.system,
                response_budget_bytes=budget_bytes,
                response_send_slots=slots,
                response_sending=sending,
                response_waiting=waiting,
            )


class PluginStatsServicer(stats_grpc.PluginStatsServiceServicer):
    def __init__(self, counters: HandlerCounters) -> None:
        self._counters = counters

    async def GetStats(
        self, request: stats_pb.PluginStatsRequest, context: grpc.aio.ServicerContext
    ) -> stats_pb.PluginStats:
        return self._counters.snapshot(collect_garbage=request.collect_garbage)
