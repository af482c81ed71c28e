"""Verdicts: what "proved" means (docs/bench.md), as pure functions over measured numbers.

Each verdict carries the figures it was decided on and the tolerance it used, so
summary.md can show why it passed or failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from bench.core.units import MiB, human_size
from bench.results.containers import ContainerFigures
from bench.results.verdict import Verdict


@dataclass(frozen=True)
class Tolerances:
    """The thresholds verdicts use (defaults documented in docs/bench.md)."""

    # bounded memory: growth at the largest size minus growth at the smallest
    size_independence_bytes: int = 8 * MiB
    # ... and growth at the largest size at most this fraction of the body
    max_growth_fraction_of_body: float = 0.125
    # ... but never below this (a small body cannot show "far below" by itself)
    far_below_floor_bytes: int = 16 * MiB
    # leak (soak rounds, docs/bench.md "Leak verdicts"): a counter leaks when it grew in
    # every measured round AND its growth per request is above its limit here. Limits
    # sit well below the smallest leak the soak must catch (256 B/request: ~290 B and
    # ~1 object or block per request measured) and well above a clean run's drift
    # (a few B and < 0.2 objects or blocks per request, most of it warm-up tail).
    leak_heap_bytes_per_request: float = 64.0  # host live Go heap after GC
    leak_objects_per_request: float = 0.5  # Go heap objects, Python blocks, gc objects
    leak_handles_per_request: float = 0.01  # goroutines, fds, tasks, threads: 1 per 100
    leak_min_rounds: int = 3  # measured rounds needed to decide at all
    # RSS cross-check: growth over the measured rounds (after GC on both sides)
    leak_rss_growth_bytes: int = 32 * MiB
    # counters back to their pre-soak value within these margins
    goroutines_margin: int = 8
    asyncio_tasks_margin: int = 2
    open_fds_margin: int = 4
    threads_margin: int = 2
    # slow reader: bytes the host pulled from the plugin beyond what the client read
    backpressure_ahead_bytes: int = 32 * MiB
    backpressure_rss_growth_bytes: int = 32 * MiB


def _mib(n: float) -> str:
    return f"{n / MiB:.1f} MiB"


def bounded_memory(
    process: str,
    direction: str,
    small_size: int,
    small_growth: float,
    large_size: int,
    large_growth: float,
    tol: Tolerances,
) -> Verdict:
    """Peak RSS growth is independent of body size and far below it."""
    delta = large_growth - small_growth
    limit_fraction = max(tol.max_growth_fraction_of_body * large_size, tol.far_below_floor_bytes)
    independent = delta <= tol.size_independence_bytes
    far_below = large_growth <= limit_fraction
    passed = independent and far_below
    return Verdict(
        name=f"bounded-memory/{direction}/{process}",
        passed=passed,
        summary=(
            f"{process} RSS growth {_mib(small_growth)} at {_mib(small_size)} vs "
            f"{_mib(large_growth)} at {_mib(large_size)}: difference {_mib(delta)} "
            f"(limit {_mib(tol.size_independence_bytes)}), "
            f"{large_growth / large_size:.1%} of the body (limit "
            f"{_mib(limit_fraction)})"
        ),
        figures={
            "process": process,
            "direction": direction,
            "small_size_bytes": small_size,
            "small_growth_bytes": small_growth,
            "large_size_bytes": large_size,
            "large_growth_bytes": large_growth,
            "difference_bytes": delta,
            "tolerance_bytes": tol.size_independence_bytes,
            "max_growth_fraction_of_body": tol.max_growth_fraction_of_body,
            "max_growth_bytes": limit_fraction,
        },
    )


def leak_limits(tol: Tolerances) -> dict[str, float]:
    """The counters the leak soak reads after each round, and each one's limit per request.

    Keys are flattened /debug/stats keys (bench.observe.samplers.flatten_stats).
    """
    return {
        "host.heap_live_bytes": tol.leak_heap_bytes_per_request,
        "host.heap_objects": tol.leak_objects_per_request,
        "host.goroutines": tol.leak_handles_per_request,
        "host.open_fds": tol.leak_handles_per_request,
        "plugin.allocated_blocks": tol.leak_objects_per_request,
        "plugin.gc_objects": tol.leak_objects_per_request,
        "plugin.asyncio_tasks": tol.leak_handles_per_request,
        "plugin.open_fds": tol.leak_handles_per_request,
        "plugin.threads": tol.leak_handles_per_request,
    }


def round_deltas(readings: Sequence[float]) -> list[float]:
    """Growth of a counter in each round: reading after the round minus the one before."""
    return [after - before for before, after in pairwise(readings)]


def leak_rounds(
    counter: str,
    readings: Sequence[float],
    requests_per_round: int,
    limit_per_request: float,
    min_rounds: int,
) -> Verdict:
    """A counter leaks when it grew in every measured round and, over them all, by more
    than limit_per_request per request (CPython's refleak check: all deltas > 0).

    readings: the counter after the last warm-up round, then after each measured round,
    each taken at quiescence after a forced GC. One spike, a warm-up tail that settles
    or noise around a flat line has a round that did not grow, or too little growth.
    """
    deltas = round_deltas(readings)
    rounds = len(deltas)
    requests = rounds * requests_per_round
    total = sum(deltas)
    per_request = total / requests if requests else 0.0
    enough = rounds >= min_rounds and requests_per_round > 0
    every_round_grew = enough and all(d > 0 for d in deltas)
    leaked = every_round_grew and per_request > limit_per_request
    if not enough:
        why = f"{rounds} measured rounds, {min_rounds} needed to decide"
    elif leaked:
        why = "grew in every round: a leak"
    elif every_round_grew:
        why = "grew in every round, but less than the limit"
    else:
        why = "no leak"
    return Verdict(
        name=f"leak/{counter}",
        passed=enough and not leaked,
        summary=(
            f"{counter} round deltas {_deltas_text(deltas)} over {requests_per_round} "
            f"requests each: {per_request:+.3g}/request (limit {limit_per_request:g}); {why}"
        ),
        figures={
            "counter": counter,
            "readings": list(readings),
            "deltas": deltas,
            "requests_per_round": requests_per_round,
            "growth_per_request": per_request,
            "limit_per_request": limit_per_request,
            "every_round_grew": every_round_grew,
        },
    )


def _deltas_text(deltas: Sequence[float]) -> str:
    return "[" + ", ".join(f"{d:+.0f}" for d in deltas) + "]"


def leak_rss(process: str, readings: Sequence[float], tol: Tolerances) -> Verdict:
    """Cross-check: RSS after the measured rounds is within a generous bound of RSS before.

    RSS moves with allocator and GC timing by megabytes, so it cannot see a small
    leak (the counters do); it catches a gross one outside the runtimes' heaps.
    """
    enough = len(readings) >= 2
    growth = readings[-1] - readings[0] if enough else 0.0
    return Verdict(
        name=f"leak-rss/{process}",
        passed=enough and growth <= tol.leak_rss_growth_bytes,
        summary=(
            f"{process} RSS {_mib(readings[0]) if enough else '-'} after warm-up, "
            f"{_mib(readings[-1]) if enough else '-'} after the measured rounds: growth "
            f"{_mib(growth)} (limit {_mib(tol.leak_rss_growth_bytes)})"
            + ("" if enough else "; too few readings to decide")
        ),
        figures={
            "process": process,
            "readings": list(readings),
            "growth_bytes": growth,
            "limit_bytes": tol.leak_rss_growth_bytes,
        },
    )


def soak_leak_verdicts(
    readings: Sequence[Mapping[str, float]], requests_per_round: int, tol: Tolerances
) -> list[Verdict]:
    """Leak verdicts of one soak: every counter of leak_limits, and RSS per process.

    readings: flattened /debug/stats readings (after GC, at quiescence), the first
    after the last warm-up round, then one after each measured round. A counter the
    stats do not report (an older host or plugin) gets no verdict; one that a
    reading lacks while others have it cannot be decided and fails.
    """
    out = []
    limits = leak_limits(tol)
    for key in [*limits, "host.rss_bytes", "plugin.rss_bytes"]:
        values = [r.get(key) for r in readings]
        present = [v for v in values if v is not None]
        if not present:
            continue
        if len(present) < len(values):
            out.append(
                Verdict(
                    name=f"leak/{key}" if key in limits else f"leak-rss/{key.split('.')[0]}",
                    passed=False,
                    summary=f"{key} missing from {len(values) - len(present)} round readings",
                    figures={"counter": key, "readings": values},
                )
            )
        elif key in limits:
            out.append(
                leak_rounds(key, present, requests_per_round, limits[key], tol.leak_min_rounds)
            )
        else:
            out.append(leak_rss(key.split(".")[0], present, tol))
    return out


def counters_return(
    before: Mapping[str, float], after: Mapping[str, float], tol: Tolerances
) -> list[Verdict]:
    """Goroutines, handlers, tasks, fds, threads are back to their pre-soak value."""
    margins = {
        "host.goroutines": tol.goroutines_margin,
        "host.active_streams": 0,
        "plugin.active_handlers": 0,
        "plugin.asyncio_tasks": tol.asyncio_tasks_margin,
        "plugin.open_fds": tol.open_fds_margin,
        "plugin.threads": tol.threads_margin,
    }
    verdicts = []
    for key, margin in margins.items():
        if key not in after:
            continue
        base = before.get(key, 0.0)
        final = after[key]
        verdicts.append(
            Verdict(
                name=f"returns-to-baseline/{key}",
                passed=final <= base + margin,
                summary=f"{key}: {base:.0f} before, {final:.0f} after (margin {margin})",
                figures={"counter": key, "before": base, "after": final, "margin": margin},
            )
        )
    return verdicts


def backpressure(
    plugin_rss_growth: float | None,
    ahead_bytes: float | None,
    client_read_bytes: int,
    body_size: int,
    tol: Tolerances,
) -> Verdict:
    """A slow reader holds the plugin back: its RSS flat, the host not far ahead of the client."""
    checks = []
    if plugin_rss_growth is not None:
        checks.append(plugin_rss_growth <= tol.backpressure_rss_growth_bytes)
    if ahead_bytes is not None:
        checks.append(ahead_bytes <= tol.backpressure_ahead_bytes)
    passed = bool(checks) and all(checks)
    parts = [f"client read {_mib(client_read_bytes)} of {_mib(body_size)}"]
    if plugin_rss_growth is not None:
        parts.append(
            f"plugin RSS growth {_mib(plugin_rss_growth)} "
            f"(limit {_mib(tol.backpressure_rss_growth_bytes)})"
        )
    if ahead_bytes is not None:
        parts.append(
            f"host pulled {_mib(ahead_bytes)} beyond what the client read "
            f"(limit {_mib(tol.backpressure_ahead_bytes)})"
        )
    if not checks:
        parts.append("no figures to decide on")
    return Verdict(
        name="backpressure/slow-reader",
        passed=passed,
        summary="; ".join(parts),
        figures={
            "plugin_rss_growth_bytes": plugin_rss_growth,
            "ahead_bytes": ahead_bytes,
            "client_read_bytes": client_read_bytes,
            "body_size_bytes": body_size,
            "ahead_limit_bytes": tol.backpressure_ahead_bytes,
            "rss_limit_bytes": tol.backpressure_rss_growth_bytes,
        },
    )


def abort_cleanup(
    aborts: int,
    cancelled_before: float | None,
    cancelled_after: float | None,
    active_after: float | None,
    active_streams_after: float | None,
) -> Verdict:
    """Client aborts cancel the plugin's handlers and nothing stays active."""
    if cancelled_before is None or cancelled_after is None or active_after is None:
        return Verdict(
            name="abort-cleanup",
            passed=False,
            summary="no plugin stats (handlers_cancelled/active_handlers) to decide on",
            figures={"aborts": aborts},
        )
    rose = cancelled_after - cancelled_before
    passed = rose >= aborts and active_after == 0 and (active_streams_after or 0) == 0
    return Verdict(
        name="abort-cleanup",
        passed=passed,
        summary=(
            f"{aborts} client aborts: handlers_cancelled rose by {rose:.0f}, "
            f"active_handlers now {active_after:.0f}, host active_streams now "
            f"{active_streams_after if active_streams_after is not None else 'n/a'}"
        ),
        figures={
            "aborts": aborts,
            "handlers_cancelled_delta": rose,
            "active_handlers_after": active_after,
            "active_streams_after": active_streams_after,
        },
    )


def container_memory(name: str, figures: ContainerFigures) -> Verdict:
    """A capped container survived the run: never OOM-killed or restarted, peak under its cap.

    This is the hard form of "no full buffering": the kernel kills a container
    that holds a body many times its cap, whatever the scenarios saw before.
    """
    limit, peak = figures.limit_bytes, figures.peak_bytes
    return Verdict(
        name=f"container-memory/{name}",
        passed=figures.held(),
        summary=(
            f"{figures.service or name}: peak {_mib(peak)} of {_mib(limit)} cap, "
            f"OOM killed {figures.oom_killed}, restarts {figures.restart_count}"
        ),
        figures={
            "peak_bytes": peak,
            "limit_bytes": limit,
            "oom_killed": figures.oom_killed,
            "restart_count": figures.restart_count,
        },
    )


def ranges(
    kind: str, target: str, size: int, checks: Sequence[tuple[int, int, bool, str]]
) -> Verdict:
    """Every Range request of a served file got 206 and exactly the bytes asked for.

    checks: (first, last, ok, detail) per request.
    """
    failed = [f"bytes={a}-{b}: {detail}" for a, b, ok, detail in checks if not ok]
    return Verdict(
        name=f"ranges/{kind}/{target}/{human_size(size)}",
        passed=bool(checks) and not failed,
        summary=(
            f"{len(checks) - len(failed)} of {len(checks)} ranges of a {_mib(size)} file "
            "answered 206 with the right bytes" + (f"; {'; '.join(failed)}" if failed else "")
        ),
        figures={"ranges": [list(c) for c in checks], "file_bytes": size},
    )


def soak_outcomes(requests: int, outcomes: Mapping[str, int], anomalies: Sequence[str]) -> Verdict:
    """Every request of the soak's mix was answered as its kind expects."""
    return Verdict(
        name="soak-outcomes",
        passed=not anomalies,
        summary=(
            f"{requests} mixed requests, {len(anomalies)} unexpected outcomes; {dict(outcomes)}"
        ),
        figures={"anomalies": list(anomalies[:20]), "outcomes": dict(outcomes)},
    )
