"""The capacity ramp's pure parts: levels, per-level figures, stop rules, the ramp loop."""

from __future__ import annotations

import dataclasses

import pytest

from bench.capacity.command import ramp_plan
from bench.capacity.ramp import breaches as level_breaches
from bench.capacity.ramp import (
    directions,
    failed_ramp,
    run_ramp,
    summarize_level,
    transfers_per_stream,
)
from bench.core.numbers import jain_index
from bench.core.profiles import doubling_levels, parse_levels, step_users
from bench.load.streams import StreamOutcome
from bench.results.capacity import (
    DOWNLOAD,
    MIXED,
    UPLOAD,
    LevelResult,
    Limits,
    ProcessPeak,
)

MiB = 1024 * 1024
LIMITS = Limits(memory_cap_bytes=128 * MiB, ttfb_slo_s=2.0)


def level(
    concurrency: int = 8,
    *,
    ok: int | None = None,
    errors: dict[str, int] | None = None,
    peaks: dict[str, float] | None = None,
    ttfb_p99_ms: float | None = 50.0,
    oom: list[str] | None = None,
    exited: list[str] | None = None,
) -> LevelResult:
    """A synthetic level: by default every stream fine, 60 MiB per process."""
    return LevelResult(
        target="bridge",
        mode=DOWNLOAD,
        concurrency=concurrency,
        stream_bytes=8 * MiB,
        transfers_per_stream=1,
        seconds=1.0,
        streams_ok=concurrency if ok is None else ok,
        bytes_moved=concurrency * 8 * MiB,
        aggregate_mb_s=500.0,
        stream_mb_s_min=50.0,
        stream_mb_s_median=60.0,
        jain_index=0.99,
        ttfb_p50_ms=10.0,
        ttfb_p99_ms=ttfb_p99_ms,
        errors=errors or {},
        processes=[
            ProcessPeak(name, "psutil", value)
            for name, value in (peaks or {"host": 60 * MiB, "plugin": 60 * MiB}).items()
        ],
        oom_killed=oom or [],
        exited=exited or [],
    )


@pytest.mark.parametrize(
    ("max_concurrency", "expected"),
    [
        (1, [1]),
        (4, [1, 2, 4]),
        (128, [1, 2, 4, 8, 16, 32, 64, 128]),
        (512, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
        (100, [1, 2, 4, 8, 16, 32, 64, 100]),
    ],
)
def test_levels_double_up_to_the_maximum(max_concurrency: int, expected: list[int]) -> None:
    assert doubling_levels(max_concurrency) == expected


def test_levels_need_at_least_one_stream() -> None:
    with pytest.raises(ValueError, match="at least one stream"):
        doubling_levels(0)


@pytest.mark.parametrize(
    ("mode", "concurrency", "downloads", "uploads"),
    [(DOWNLOAD, 4, 4, 0), (UPLOAD, 4, 0, 4), (MIXED, 4, 2, 2), (MIXED, 1, 1, 0), (MIXED, 5, 3, 2)],
)
def test_mixed_levels_are_half_each(
    mode: str, concurrency: int, downloads: int, uploads: int
) -> None:
    kinds = directions(mode, concurrency)
    assert len(kinds) == concurrency
    assert (kinds.count(DOWNLOAD), kinds.count(UPLOAD)) == (downloads, uploads)


@pytest.mark.parametrize(
    ("rates", "expected"),
    [
        ([10.0, 10.0, 10.0, 10.0], 1.0),
        ([40.0, 0.0, 0.0, 0.0], 0.25),  # one stream got everything: 1/n
        ([30.0, 10.0], 0.8),  # (40)^2 / (2 * 1000)
        ([5.0], 1.0),
        ([], None),
        ([0.0, 0.0], None),
    ],
)
def test_jain_index(rates: list[float], expected: float | None) -> None:
    got = jain_index(rates)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_summarize_level_counts_only_intact_streams_and_downloads_ttfb() -> None:
    streams = [
        StreamOutcome(DOWNLOAD, 16 * MiB, 0.5, (0.010, 0.012)),  # two transfers
        StreamOutcome(DOWNLOAD, 16 * MiB, 1.0, (0.030, 0.020)),
        StreamOutcome(UPLOAD, 16 * MiB, 2.0),
        StreamOutcome(DOWNLOAD, 8 * MiB, 0.2, (0.5,), error="503", detail="HTTP 503"),
        StreamOutcome(UPLOAD, 0, 0.0, error="truncated", detail="4 of 8"),
    ]
    lv = summarize_level("bridge", MIXED, 5, 8 * MiB, 2, 2.0, streams)
    assert lv.streams_ok == 3 and lv.transfers_per_stream == 2
    assert lv.bytes_moved == 48 * MiB, "a failed stream's bytes do not count"
    assert lv.aggregate_mb_s == pytest.approx(48 * MiB / 2.0 / 1e6)
    assert lv.stream_mb_s_min == pytest.approx(16 * MiB / 2.0 / 1e6)
    assert lv.stream_mb_s_median == pytest.approx(16 * MiB / 1.0 / 1e6)
    assert lv.ttfb_p50_ms == pytest.approx(12.0)
    assert lv.ttfb_p99_ms == pytest.approx(30.0), "a failed stream's TTFB does not count"
    assert lv.errors == {"503": 1, "truncated": 1}
    assert len(lv.error_details) == 2 and "HTTP 503" in lv.error_details[0]


@pytest.mark.parametrize(
    ("concurrency", "min_level_mib", "transfers"),
    [(1, 128, 16), (2, 128, 8), (8, 128, 2), (16, 128, 1), (128, 128, 1), (3, 128, 6), (1, 0, 1)],
)
def test_low_levels_repeat_transfers_until_they_move_enough(
    concurrency: int, min_level_mib: int, transfers: int
) -> None:
    assert transfers_per_stream(concurrency, 8 * MiB, min_level_mib * MiB) == transfers


@pytest.mark.parametrize(
    ("case", "lv", "expected"),
    [
        ("all fine", level(), []),
        ("just under the cap", level(peaks={"plugin": 128 * MiB}), []),
        (
            "plugin over the cap",
            level(peaks={"host": 30 * MiB, "plugin": 129 * MiB}),
            ["memory: plugin"],
        ),
        (
            "container over the cap",
            level(peaks={"container:host": 200 * MiB}),
            ["memory: container:host"],
        ),
        ("OOM kill", level(oom=["container:plugin"]), ["oom-kill: container:plugin"]),
        ("crashed process", level(exited=["plugin"]), ["exited: plugin"]),
        (
            "admission 503s",
            level(ok=6, errors={"503": 2}),
            ["errors: 2 of 8 streams failed (503 x2)"],
        ),
        ("one truncated", level(ok=7, errors={"truncated": 1}), ["errors: 1 of 8"]),
        ("ttfb over the SLO", level(ttfb_p99_ms=2500.0), ["ttfb: p99 2500 ms > SLO 2000 ms"]),
        ("ttfb at the SLO", level(ttfb_p99_ms=2000.0), []),
        ("uploads have no ttfb", level(ttfb_p99_ms=None), []),
        (
            "several at once",
            level(ok=7, errors={"timeout": 1}, peaks={"host": 300 * MiB}),
            ["memory: host", "errors: 1 of 8"],
        ),
    ],
)
def test_stop_rules(case: str, lv: LevelResult, expected: list[str]) -> None:
    got = level_breaches(lv, LIMITS)
    assert len(got) == len(expected), (case, got)
    for sentence, start in zip(got, expected, strict=True):
        assert sentence.startswith(start), (case, got)


def test_ramp_stops_at_the_first_level_that_breaks_and_reports_why() -> None:
    plugin_mib = {1: 50, 2: 60, 4: 80, 8: 110, 16: 170, 32: 300}
    ran: list[int] = []

    def run_level(n: int) -> LevelResult:
        ran.append(n)
        return level(n, peaks={"plugin": plugin_mib[n] * MiB})

    seen: list[LevelResult] = []
    ramp = run_ramp("bridge", UPLOAD, [1, 2, 4, 8, 16, 32], run_level, LIMITS, seen.append)
    assert ran == [1, 2, 4, 8, 16], "no level runs after the one that broke"
    assert ramp.capacity == 8 and ramp.stopped_at == 16
    assert ramp.reason == "memory: plugin peaked at 170.0 MiB > cap 128 MiB"
    assert [lv.held for lv in ramp.levels] == [True, True, True, True, False]
    assert seen == ramp.levels


def test_ramp_that_holds_everywhere_reports_the_maximum() -> None:
    ramp = run_ramp("go-direct", DOWNLOAD, [1, 2, 4], lambda n: level(n), LIMITS)
    assert ramp.capacity == 4 and ramp.stopped_at is None
    assert "held every level up to 4" in ramp.reason


def test_a_first_level_that_breaks_means_capacity_zero() -> None:
    ramp = run_ramp("buffered", UPLOAD, [1, 2], lambda n: level(n, ok=0, errors={"500": n}), LIMITS)
    assert ramp.capacity == 0 and ramp.stopped_at == 1
    assert ramp.reason.startswith("errors: 1 of 1 streams failed (500 x1)")


def test_a_target_that_did_not_start_is_a_ramp_of_capacity_zero() -> None:
    ramp = failed_ramp("python-direct", MIXED, 1, "did not start: port in use")
    assert (ramp.capacity, ramp.stopped_at, ramp.levels) == (0, 1, [])
    assert ramp.key == "python-direct/mixed"


def test_levels_are_plain_records() -> None:
    lv = level()
    assert dataclasses.is_dataclass(lv) and lv.held
    assert lv.peak("plugin") == 60 * MiB and lv.peak("nope") is None


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        ("1,2,4", [1, 2, 4]),
        (" 3, 5 ", [3, 5]),
        ("smoke", [1, 2, 4]),
        ("quick", [1, 2, 4, 8, 16, 32, 64, 128]),
        ("full", [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
    ],
)
def test_levels_from_text(text: str, levels: list[int]) -> None:
    assert parse_levels(text) == levels


@pytest.mark.parametrize("text", ["", "0,1", "a,b", "4,2", "2,2", "huge"])
def test_bad_levels_are_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="ascending positive stream counts"):
        parse_levels(text)


@pytest.mark.parametrize(
    ("run_time_s", "users"),
    [(0.0, 1), (9.9, 1), (10.0, 2), (25.0, 4), (29.9, 4), (30.0, None), (99.0, None)],
)
def test_time_stepped_ramp_holds_each_level_for_a_step(
    run_time_s: float, users: int | None
) -> None:
    """What the Locust shape does each tick: one level per 10 s step, then the end."""
    assert step_users([1, 2, 4], 10.0, run_time_s) == users


@pytest.mark.parametrize(
    ("targets", "modes", "plan"),
    [
        (
            ["bridge", "go-direct", "python-direct"],
            ["file"],
            [("bridge", "file"), ("go-direct", "file"), ("python-direct", "file")],
        ),
        # The offload is the host serving the file: Go direct's file ramp goes beside it.
        (
            ["bridge", "go-direct", "buffered"],
            ["download", "file-offload"],
            [
                ("bridge", "download"),
                ("bridge", "file-offload"),
                ("go-direct", "download"),
                ("buffered", "download"),
                ("go-direct", "file"),
            ],
        ),
        # ... once, when the file mode has it already.
        (
            ["bridge", "go-direct"],
            ["file", "file-offload"],
            [("bridge", "file"), ("bridge", "file-offload"), ("go-direct", "file")],
        ),
        (["bridge"], ["file-offload"], [("bridge", "file-offload")]),
    ],
)
def test_ramp_plan_of_file_modes(
    targets: list[str], modes: list[str], plan: list[tuple[str, str]]
) -> None:
    assert ramp_plan(targets, modes) == plan


def test_a_container_is_held_to_its_own_cap_where_the_engine_reported_it() -> None:
    # go-plugin's container holds two processes under a cap of 256 MiB: 200 MiB fits
    # it; a process of its own, or a container without a reported cap, has 128 MiB.
    limits = Limits(128 * MiB, 2.0, container_caps={"go-plugin": 256 * MiB})
    assert level_breaches(level(peaks={"container:go-plugin": 200 * MiB}), limits) == []
    over = level_breaches(level(peaks={"container:go-plugin": 300 * MiB}), limits)
    assert over == ["memory: container:go-plugin peaked at 300.0 MiB > cap 256 MiB"]
    for name in ("go-plugin", "container:plugin"):
        assert level_breaches(level(peaks={name: 200 * MiB}), limits), name
