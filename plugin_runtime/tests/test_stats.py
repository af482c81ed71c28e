"""GetStats with and without a forced collection: the figures the leak soak counts."""

from __future__ import annotations

from plugin_runtime._proto import bench_stats_pb2 as stats_pb
from plugin_runtime._proto import bench_stats_pb2_grpc as stats_grpc
from plugin_runtime.examples import leaky
from plugin_runtime.tests.conftest import PluginClient


async def test_plain_poll_counts_blocks_but_does_not_collect(bench_plugin: PluginClient) -> None:
    stub = stats_grpc.PluginStatsServiceStub(bench_plugin.channel)
    stats = await stub.GetStats(stats_pb.PluginStatsRequest())
    assert stats.allocated_blocks > 1000
    assert not stats.HasField("gc_objects")


async def test_cpu_seconds_grow_with_requests(bench_plugin: PluginClient) -> None:
    stub = stats_grpc.PluginStatsServiceStub(bench_plugin.channel)
    before = (await stub.GetStats(stats_pb.PluginStatsRequest())).cpu_seconds
    assert before > 0
    after = before
    while after <= before:  # the process's CPU clock ticks in steps of 10 ms
        await bench_plugin.fetch("/download?size=1048576&chunk=65536")
        after = (await stub.GetStats(stats_pb.PluginStatsRequest())).cpu_seconds
    assert after > before


async def test_collection_counts_what_handlers_keep(plugin_factory) -> None:  # type: ignore[no-untyped-def]
    client: PluginClient = await plugin_factory(leaky.app)
    stub = stats_grpc.PluginStatsServiceStub(client.channel)
    await client.fetch("/headers")  # first-use allocations before the baseline
    before = await stub.GetStats(stats_pb.PluginStatsRequest(collect_garbage=True))
    assert before.HasField("gc_objects") and before.gc_objects > 1000
    requests = 300
    for _ in range(requests):
        await client.fetch("/headers")
    after = await stub.GetStats(stats_pb.PluginStatsRequest(collect_garbage=True))
    # One kept 256-byte object per request is one allocated block per request;
    # the rest of a request's allocations are freed by then.
    grew = after.allocated_blocks - before.allocated_blocks
    assert requests <= grew < requests * 3, grew
    assert len(leaky.kept) >= requests + 1
