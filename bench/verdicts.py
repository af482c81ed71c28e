"""Verdicts: what "proved" means (docs/bench.md), as pure functions over measured numbers.

Each verdict carries the figures it was decided on and the tolerance it used, so
summary.md can show why it passed or failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

MiB = 1024 * 1024


@dataclass(frozen=True)
class Tolerances:
    """The thresholds verdicts use (defaults documented in docs/bench.md)."""

    # bounded memory: growth at the largest size minus growth at the smallest
    size_independence_bytes: int = 8 * MiB
    # ... and growth at the largest size at most this fraction of the body
    max_growth_fraction_of_body: float = 0.125
    # ... but never below this (a small body cannot show "far below" by itself)
    far_below_floor_bytes: int = 16 * MiB
    # leak: least-squares slope of RSS over request index after warm-up
    leak_slope_bytes_per_request: float = 1024.0
    leak_warmup_fraction: float = 0.3  # of the soak's requests; see profiles.quick
    # counters back to their pre-soak value within these margins
    goroutines_margin: int = 8
    asyncio_tasks_margin: int = 2
    open_fds_margin: int = 4
    threads_margin: int = 2
    # slow reader: bytes the host pulled from the plugin beyond what the client read
    backpressure_ahead_bytes: int = 32 * MiB
    backpressure_rss_growth_bytes: int = 32 * MiB


@dataclass
class Verdict:
    name: str
    passed: bool
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Slope of the ordinary least-squares line through (xs, ys); 0 for < 2 distinct xs."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return 0.0
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx


def leak_slope(
    process: str,
    request_index: Sequence[float],
    rss_bytes: Sequence[float],
    tol: Tolerances,
) -> Verdict:
    """RSS over request index after warm-up has a slope near zero (bytes/request)."""
    if len(request_index) != len(rss_bytes):
        raise ValueError("request_index and rss_bytes differ in length")
    total = max(request_index) if request_index else 0
    cut = total * tol.leak_warmup_fraction
    pairs = [(x, y) for x, y in zip(request_index, rss_bytes, strict=True) if x >= cut]
    xs = [p[0] for p in pairs]
    ys = [p[1] for p in pairs]
    enough = len(pairs) >= 5 and (max(xs) - min(xs) if xs else 0) > 0
    slope = least_squares_slope(xs, ys) if enough else 0.0
    passed = enough and slope <= tol.leak_slope_bytes_per_request
    return Verdict(
        name=f"leak-slope/{process}",
        passed=passed,
        summary=(
            f"{process} RSS slope {slope:.1f} B/request over {len(pairs)} samples after "
            f"warm-up (limit {tol.leak_slope_bytes_per_request:.0f} B/request)"
            + ("" if enough else "; too few samples to decide")
        ),
        figures={
            "process": process,
            "slope_bytes_per_request": slope,
            "samples": len(pairs),
            "requests": total,
            "warmup_requests": cut,
            "limit_bytes_per_request": tol.leak_slope_bytes_per_request,
            "rss_first_bytes": ys[0] if ys else None,
            "rss_last_bytes": ys[-1] if ys else None,
        },
    )


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


def container_memory(name: str, figures: Mapping[str, Any]) -> Verdict:
    """A capped container survived the run: never OOM-killed or restarted, peak under its cap.

    This is the hard form of "no full buffering": the kernel kills a container
    that holds a body many times its cap, whatever the scenarios saw before.
    """
    limit = figures.get("limit_bytes") or 0
    peak = figures.get("peak_bytes") or 0
    oom = bool(figures.get("oom_killed"))
    restarts = int(figures.get("restart_count") or 0)
    passed = not oom and restarts == 0 and (not limit or peak < limit)
    return Verdict(
        name=f"container-memory/{name}",
        passed=passed,
        summary=(
            f"{figures.get('service', name)}: peak {_mib(peak)} of {_mib(limit)} cap, "
            f"OOM killed {oom}, restarts {restarts}"
        ),
        figures={
            "peak_bytes": peak,
            "limit_bytes": limit,
            "oom_killed": oom,
            "restart_count": restarts,
        },
    )
