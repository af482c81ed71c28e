"""The distance to the floor: each side of the bridge against the gRPC pair and the two hops."""

from __future__ import annotations

import pytest

from bench.judge.references import floors, headline, reference_ratios
from bench.results.run import ScenarioRow

MiB = 1024 * 1024


def row(kind: str, target: str, cpu: dict[str, float], size: int = 256 * MiB) -> ScenarioRow:
    return ScenarioRow(
        f"{kind}/{target}/x/c1MiB",
        kind,
        target,
        "down",
        size,
        MiB,
        throughput_mb_s=1000.0,
        cpu_seconds_per_gib={**cpu, "loadgen": 0.3},
    )


ROWS = [
    row("download", "bridge", {"host": 0.62, "plugin": 0.44}),
    row("download", "grpc-floor", {"host": 0.40, "plugin": 0.45}),
    row("download", "go-direct", {"host": 0.15}),
    row("download", "python-direct", {"python-direct": 0.15}),
    row("file", "bridge", {"host": 0.63, "plugin": 0.50}),
    row("file", "grpc-floor", {"host": 0.41, "plugin": 0.49}),
    row("file", "go-direct", {"host": 0.05}),  # sendfile: not the bridge's client write
    row("file", "python-direct", {"python-direct": 0.2}),
]


def test_each_side_against_its_floor_and_the_two_hops() -> None:
    download, file = floors(ROWS)
    assert download.kind == "download"
    assert download.host.floor == pytest.approx(0.40 + 0.15)  # the gRPC client + client write
    assert download.host.ratio_to_floor == pytest.approx(0.62 / 0.55)
    assert download.host.two_hops == 0.15 and download.plugin.floor == 0.45
    assert download.plugin.two_hops == 0.15
    assert download.total.bridge == pytest.approx(1.06)
    assert download.total.floor == pytest.approx(1.0)
    assert download.total.ratio_to_two_hops == pytest.approx(1.06 / 0.30)
    # A streamed file writes from memory like the pattern: the client write is Go direct's
    # download of the same size; the two hops are Go's and uvicorn's own file serving.
    assert file.host.floor == pytest.approx(0.41 + 0.15)
    assert file.total.two_hops == pytest.approx(0.05 + 0.2)


def test_the_client_write_of_a_size_without_a_go_direct_download_is_the_nearest_sizes() -> None:
    # Files of 32 MiB, Go direct's pattern downloads at 8 and 256 MiB: 8 MiB is nearest,
    # never Go direct's own file route (sendfile, not a write from memory).
    rows = [
        row("file", "bridge", {"host": 0.7, "plugin": 0.5}, size=32 * MiB),
        row("file", "grpc-floor", {"host": 0.4, "plugin": 0.5}, size=32 * MiB),
        row("file", "go-direct", {"host": 0.05}, size=32 * MiB),
        row("download", "go-direct", {"host": 0.2}, size=8 * MiB),
        row("download", "go-direct", {"host": 0.1}, size=256 * MiB),
    ]
    (file,) = floors(rows)
    assert file.host.floor == pytest.approx(0.4 + 0.2)
    assert file.host.two_hops == 0.05
    assert file.plugin.two_hops is None and file.total.two_hops is None  # no uvicorn row
    assert file.noisy and not floors(ROWS)[0].noisy  # 32 MiB vs 256 MiB transfers


def test_no_floor_row_without_the_floor_or_cpu_figures() -> None:
    assert floors([r for r in ROWS if r.target != "grpc-floor"]) == []
    unread = [row("download", t, {}, size=16 * MiB) for t in ("bridge", "grpc-floor")]
    for r in unread:
        r.cpu_seconds_per_gib = {}
    assert floors(unread) == []


def test_references_carry_each_targets_cpu_and_the_headline_is_the_largest_size() -> None:
    refs = reference_ratios(
        [
            *ROWS,
            row("download", "bridge", {}, size=16 * MiB),
            row("download", "go-direct", {}, size=16 * MiB),
        ]
    )
    big = next(r for r in refs if r.kind == "download" and r.size_bytes == 256 * MiB)
    assert big.cpu_s_per_gib["bridge"] == {"host": 0.62, "plugin": 0.44}  # no loadgen
    assert headline(refs)["download"] is big
