"""The headline of summary.md: the bridge against the Go plugin, Go direct and uvicorn,
from the run's own rows, `not run` where a side did not run."""

from __future__ import annotations

import pytest

from bench.judge.references import HEADLINE_PEERS, reference_ratios, standing
from bench.report.markdown import summary_markdown
from bench.results.run import LatencyMs, RunSummary, ScenarioRow

MiB = 1024 * 1024


def transfer(kind: str, target: str, mb_s: float, size: int = 256 * MiB) -> ScenarioRow:
    return ScenarioRow(
        f"{kind}/{target}/{size}/c1MiB", kind, target, "down", size, MiB, throughput_mb_s=mb_s
    )


def rps(target: str, req_s: float) -> ScenarioRow:
    return ScenarioRow(
        f"rps/{target}/1KiB/x32/c1MiB",
        "rps",
        target,
        size_bytes=1024,
        chunk_bytes=MiB,
        latency_ms=LatencyMs(1.0, 3.0),
        extra={"requests_per_s": req_s},
    )


def run(rows: list[ScenarioRow]) -> RunSummary:
    return RunSummary("r", scenarios=rows, references=reference_ratios(rows))


ROWS = [
    transfer("download", "bridge", 600.0),
    transfer("download", "go-plugin", 800.0),
    transfer("download", "go-direct", 2400.0),
    transfer("download", "python-direct", 1200.0),
    transfer("download", "bridge", 300.0, size=16 * MiB),  # the smaller size does not speak
    transfer("upload", "bridge", 500.0),
    transfer("upload", "go-direct", 1000.0),  # go-plugin and uvicorn did not run it
    rps("bridge", 2000.0),
    rps("go-plugin", 4000.0),
    rps("go-direct", 40000.0),
    rps("python-direct", 5000.0),
]


def test_each_kind_against_each_peer_as_ratios_of_the_same_run() -> None:
    lines = {s.kind: s for s in standing(run(ROWS))}
    assert list(lines) == ["download", "upload", "file", "rps"]
    download = lines["download"]
    assert (download.size_bytes, download.bridge, download.unit) == (256 * MiB, 600.0, "MB/s")
    assert download.ratios == pytest.approx(
        {"go-plugin": 0.75, "go-direct": 0.25, "python-direct": 0.5}
    )
    assert lines["upload"].ratios == {"go-plugin": None, "go-direct": 0.5, "python-direct": None}
    assert lines["rps"].unit == "req/s"
    assert lines["rps"].ratios == pytest.approx(
        {"go-plugin": 0.5, "go-direct": 0.05, "python-direct": 0.4}
    )
    assert lines["file"].bridge is None and set(lines["file"].ratios) == set(HEADLINE_PEERS)


def test_a_kind_only_the_bridge_ran_keeps_its_figure_and_no_ratio() -> None:
    (upload,) = [
        s for s in standing(run([transfer("upload", "bridge", 500.0)])) if s.kind == "upload"
    ]
    assert upload.bridge == 500.0 and upload.ratios == dict.fromkeys(HEADLINE_PEERS)


def test_the_headline_is_the_first_section_of_summary_md() -> None:
    md = summary_markdown(run(ROWS))
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Where the bridge stands"
    table = md.split("## Where the bridge stands", 1)[1].split("## ", 1)[0]
    peers = "bridge / go-plugin | bridge / go-direct | bridge / python-direct"
    assert f"| traffic | unit | bridge | {peers} |" in table
    assert "| downloads, 256MiB c1MiB | MB/s | 600 | 0.75x | 0.25x | 0.50x |" in table
    assert "| uploads (hashed), 256MiB c1MiB | MB/s | 500 | not run | 0.50x | not run |" in table
    assert "| file downloads (streamed) | MB/s | not run | - | - | - |" in table
    assert "| small requests, 1KiB c1MiB | req/s | 2000 | 0.50x | 0.05x | 0.40x |" in table
