"""bench.observe.windows: a target's window holds its own processes and containers only."""

from __future__ import annotations

from bench.core.targets import BRIDGE, BRIDGE_CONTAINERS, GO_PLUGIN, HOST_SIDES, Target
from bench.observe.samplers import Sample, Timeline, Window
from bench.observe.windows import window_figures

MiB = 1024 * 1024


def compose_timeline() -> Timeline:
    """Three containers sampled at the start of a window and inside it."""
    timeline = Timeline()
    for t, grown in ((0.0, 0), (0.5, 10)):
        for service, base in (("host", 20), ("plugin", 40), ("go-plugin", 6)):
            values = {"working_set_bytes": float((base + grown) * MiB)}
            timeline.samples.append(Sample(t, f"container:{service}", values))
    return timeline


def test_each_target_reads_only_its_own_containers() -> None:
    timeline, window = compose_timeline(), Window("level", 0.0, 1.0)
    bridge = Target(BRIDGE, "http://h/plugins/bench", {}, containers=BRIDGE_CONTAINERS)
    peer = Target(GO_PLUGIN, "http://g/plugins/bench", {}, containers=(GO_PLUGIN,))

    bridge_figures = {f.name: f for f in window_figures(timeline, window, bridge)}
    assert set(bridge_figures) == {"container:host", "container:plugin"}
    assert bridge_figures["container:plugin"].peak_bytes == 50 * MiB
    assert bridge_figures["container:plugin"].growth_bytes == 10 * MiB

    peer_figures = [f.name for f in window_figures(timeline, window, peer)]
    assert peer_figures == ["container:go-plugin"]


def test_a_target_without_containers_has_no_container_figure() -> None:
    spawned = Target(BRIDGE, "http://h/plugins/bench", {}, dict(HOST_SIDES))
    assert window_figures(compose_timeline(), Window("w", 0.0, 1.0), spawned) == []
