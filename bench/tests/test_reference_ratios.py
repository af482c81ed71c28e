"""The references are compared on latency and RSS growth too, not only throughput."""

from __future__ import annotations

from typing import Any

from bench.judge import references
from bench.report import markdown
from bench.results.run import ScenarioRow

MiB = 1024 * 1024


def _row(target: str, mb_s: float, p50: float, p99: float, growth: dict[str, float]) -> dict:
    return {
        "id": f"download/{target}/64MiB/c64KiB",
        "kind": "download",
        "target": target,
        "size_bytes": 64 * MiB,
        "chunk_bytes": 65536,
        "ok": True,
        "throughput_mb_s": mb_s,
        "latency_ms": {"p50": p50, "p99": p99},
        "rss_growth_bytes": growth,
    }


def reference_ratios(rows: list[dict]) -> list[dict[str, Any]]:
    typed = references.reference_ratios(ScenarioRow.from_json(r) for r in rows)
    return [r.to_json() for r in typed]


ROWS = [
    _row("bridge", 800.0, 10.0, 20.0, {"host": 2 * MiB, "plugin": 2 * MiB, "loadgen": 50 * MiB}),
    _row("go-direct", 1600.0, 5.0, 10.0, {"host": 1 * MiB, "loadgen": 50 * MiB}),
    _row("buffered", 400.0, 40.0, 80.0, {"buffered-host": 64 * MiB, "plugin": 0.0}),
    _row("python-direct", 800.0, 10.0, 20.0, {"python-direct": 0.1 * MiB}),
]


def test_reference_ratios_cover_latency_and_rss_growth() -> None:
    (entry,) = reference_ratios(ROWS)
    assert entry["bridge_ratio_to"] == {"go-direct": 0.5, "buffered": 2.0, "python-direct": 1.0}
    ratios: dict[str, dict[str, Any]] = entry["metric_ratios"]
    assert ratios["p50_ms"] == {"go-direct": 2.0, "buffered": 0.25, "python-direct": 1.0}
    assert ratios["p99_ms"]["buffered"] == 0.25
    # RSS growth of the target's processes summed (bridge: host + plugin), load generator left out.
    assert entry["metrics"]["rss_growth_bytes"]["bridge"] == 4 * MiB
    assert ratios["rss_growth_bytes"]["go-direct"] == 4.0
    assert ratios["rss_growth_bytes"]["buffered"] == 4 / 64
    assert ratios["rss_growth_bytes"]["python-direct"] == 40.0


def test_rss_ratio_left_out_when_both_growths_are_noise() -> None:
    rows = [
        _row("bridge", 800.0, 10.0, 20.0, {"host": 0.3 * MiB}),
        _row("go-direct", 1600.0, 5.0, 10.0, {"host": 0.01 * MiB}),
    ]
    (entry,) = reference_ratios(rows)
    assert entry["metric_ratios"]["rss_growth_bytes"] == {}
    assert entry["metric_ratios"]["p50_ms"] == {"go-direct": 2.0}


def test_summary_markdown_shows_latency_and_rss_side_by_side() -> None:
    refs = references.reference_ratios(ScenarioRow.from_json(r) for r in ROWS)
    targets = sorted(refs[0].values)
    table = markdown._metrics_table(refs, targets)
    lines = table.splitlines()
    assert lines[0].startswith(
        "| transfer | figure | bridge | buffered | go-direct | python-direct"
    )
    p99 = next(line for line in lines if "| p99 ms |" in line)
    assert "20.00" in p99 and "buffered 0.25x" in p99
    rss = next(line for line in lines if "| RSS growth MiB |" in line)
    assert "| 4.0 | 64.0 | 1.0 | 0.1 |" in rss and "go-direct 4.00x" in rss
