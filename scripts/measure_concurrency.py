"""Memory and throughput against concurrency: N x 64 MiB transfers at once through the bridge
and through uvicorn serving the same demo app, in the same run.

    .venv/bin/python scripts/measure_concurrency.py --streams 32,128,256 --kinds down,up,mixed
    .venv/bin/python scripts/measure_concurrency.py --streams 128 --kinds down \
        --host-args="--max-streams 16"
    docker compose up -d --build --wait host plugin
    .venv/bin/python scripts/measure_concurrency.py --compose http://127.0.0.1:8065 \
        --streams 32,256 --kinds mixed   # the compose stack at its memory caps

Each transfer is one `curl` process (C, cheap per byte, so the client is not the
bottleneck); downloads are checked for their exact length, uploads for the
SHA-256 the hashing `/upload` returns. Peak RSS of the host, the plugin and
uvicorn is sampled with psutil every 20 ms; with --compose, the containers'
working sets (the figure their memory cap acts on) with the Docker SDK, and
whether one was OOM-killed or stopped. Prints one JSON line per
(kind, streams, target), a table and each process's peak growth from the fewest
streams to the most; figures go to docs/performance.md.

By default one host + plugin (and one uvicorn) serve every row in turn, so a
row's peak includes what earlier rows left in the process, and a row with fewer
streams ends sooner. To compare peaks across concurrency, give each row its own
processes and the same bytes to move:

    .venv/bin/python scripts/measure_concurrency.py --streams 32,256 --kinds down,mixed \
        --fresh --same-bytes   # 32 x 512 MiB against 256 x 64 MiB
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.runner import stack as stack_mod
from plugin_runtime.examples.pattern import pattern_chunks, pattern_sha256

MiB = 1024 * 1024


class PeakRSS:
    """Samples the RSS of some PIDs in a thread and keeps each one's peak."""

    def __init__(self, pids: dict[str, int], interval: float = 0.02) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.base = {name: p.memory_info().rss for name, p in self._procs.items()}
        self.peak = dict(self.base)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, proc in self._procs.items():
                with contextlib.suppress(psutil.Error):
                    self.peak[name] = max(self.peak[name], proc.memory_info().rss)
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRSS:
        self._cpu_start = {name: _cpu_seconds(p) for name, p in self._procs.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu = {
            name: _cpu_seconds(p) - self._cpu_start[name] for name, p in self._procs.items()
        }


class ContainerPeaks:
    """PeakRSS's counterpart for a compose stack: the containers' working sets."""

    def __init__(self) -> None:
        import docker  # the Docker SDK; only this mode needs it
        from bench.observe.container_memory import ContainerMemorySampler

        self._sampler = ContainerMemorySampler.for_compose(docker.from_env(), interval_s=0.1)
        self._sampler.sample_once()
        self.base = {k: v.last_bytes for k, v in self._sampler.figures.items()}
        self.peak = dict(self.base)
        self.cpu: dict[str, float] = {}
        self.problems: list[str] = []

    def __enter__(self) -> ContainerPeaks:
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for service, figure in self._sampler.stop().items():
            self.peak[service] = figure.peak_bytes
            if figure.oom_killed or not figure.running:
                self.problems.append(
                    f"{service}: oom_killed={figure.oom_killed} running={figure.running}"
                )


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


@dataclass
class Transfer:
    kind: str  # down | up
    ok: bool
    status: str
    seconds: float
    detail: str = ""


def _curl(kind: str, base: str, size: int, upload_file: Path, expected_sha: str) -> Transfer:
    fmt = "%{http_code} %{size_download} %{time_total}"
    if kind == "down":
        args = ["curl", "-s", "-o", "/dev/null", "-w", fmt, f"{base}/download?size={size}"]
    else:
        args = ["curl", "-s", "-w", "\n" + fmt, "-T", str(upload_file), f"{base}/upload"]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    lines = out.strip().splitlines()
    if not lines:
        return Transfer(kind, False, "curl-failed", 0.0)
    code, got, seconds = lines[-1].split()
    if kind == "down":
        ok = code == "200" and int(got) == size
        return Transfer(kind, ok, code, float(seconds), f"{got} bytes")
    body = "\n".join(lines[:-1])
    ok = code == "200" and f'"sha256": "{expected_sha}"' in body and f'"bytes": {size}' in body
    return Transfer(kind, ok, code, float(seconds), body[:120])


def run_batch(
    kinds: list[str], base: str, size: int, upload_file: Path, sha: str
) -> tuple[list[Transfer], float]:
    results: list[Transfer] = []
    lock = threading.Lock()

    def one(kind: str) -> None:
        result = _curl(kind, base, size, upload_file, sha)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=one, args=(k,)) for k in kinds]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - started


def jain(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values)) if values else 0.0


@contextlib.contextmanager
def uvicorn_ref(log_dir: Path) -> Iterator[tuple[str, int]]:
    port = stack_mod.free_tcp_port()
    with (log_dir / "uvicorn.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "uvicorn", "plugin_runtime.examples.bench:asgi"),
                *("--host", "127.0.0.1", "--port", str(port)),
                *("--log-level", "warning", "--no-access-log"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=stack_mod.REPO_ROOT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        stack_mod.wait_ready(f"{url}/download?size=1", [proc])
        yield url, proc.pid
    finally:
        stack_mod.stop_process(proc)


def _upload_file(size: int) -> Path:
    path = Path("/dev/shm") / f"concurrency-{size}.bin"
    if not path.exists() or path.stat().st_size != size:
        with path.open("wb") as out:
            out.writelines(pattern_chunks(size, MiB))
    return path


@contextlib.contextmanager
def serving_targets(
    args: argparse.Namespace, log_dir: Path
) -> Iterator[dict[str, tuple[str, dict[str, int]]]]:
    """The targets to measure, by name: (base URL of the demo app, PIDs to sample)."""
    with contextlib.ExitStack() as exits:
        targets: dict[str, tuple[str, dict[str, int]]] = {}
        if args.compose:
            targets["compose"] = (f"{args.compose.rstrip('/')}/plugins/bench", {})
        else:
            stack = exits.enter_context(
                stack_mod.run_stack(
                    host_args=shlex.split(args.host_args),
                    plugin_args=shlex.split(args.plugin_args),
                    log_dir=log_dir,
                )
            )
            pids = {"host": stack.host.pid, "plugin": stack.plugin.pid}
            targets["bridge"] = (stack.plugin_url, pids)
        if not args.no_uvicorn and not args.compose:
            url, pid = exits.enter_context(uvicorn_ref(log_dir))
            targets["uvicorn"] = (url, {"uvicorn": pid})
        yield targets


def measure_row(
    kind: str, n: int, size: int, name: str, base: str, pids: dict[str, int], compose: bool
) -> dict:
    """N transfers of size bytes at once against one target, and what they cost it."""
    plan = ["up"] * (n // 2) + ["down"] * (n - n // 2) if kind == "mixed" else [kind] * n
    upload_file = _upload_file(size) if "up" in plan else Path("/dev/null")
    sha = pattern_sha256(size) if "up" in plan else ""
    time.sleep(1.0)  # let the idle trim and GC settle between batches
    rss = ContainerPeaks() if compose else PeakRSS(pids)
    with rss:
        results, wall = run_batch(plan, base, size, upload_file, sha)
    rates = [size / r.seconds / 1e6 for r in results if r.ok and r.seconds]
    failed = [r for r in results if not r.ok]
    return {
        "kind": kind,
        "streams": n,
        "bytes_per_transfer": size,
        "target": name,
        "pids": pids,
        "ok": len(results) - len(failed),
        "failed": len(failed),
        "failures": sorted({f"{r.kind}:{r.status}" for r in failed}) + getattr(rss, "problems", []),
        "aggregate_mb_s": round(len(plan) * size / wall / 1e6, 1),
        "per_stream_median_mb_s": round(statistics.median(rates), 2) if rates else 0,
        "per_stream_min_mb_s": round(min(rates), 2) if rates else 0,
        "slowest_over_median": round(min(rates) / statistics.median(rates), 3) if rates else 0,
        "jain": round(jain(rates), 3),
        "peak_rss_mib": {k: round(v / MiB, 1) for k, v in rss.peak.items()},
        "base_rss_mib": {k: round(v / MiB, 1) for k, v in rss.base.items()},
        "wall_s": round(wall, 2),
        "cpu_s_per_gib": {
            k: round(v / (len(plan) * size / (1024 * MiB)), 2) for k, v in rss.cpu.items()
        },
    }


def peak_growth(rows: list[dict]) -> list[str]:
    """Peak memory at the most streams over peak at the fewest, per kind, target and process."""
    lines = []
    for kind, target in dict.fromkeys((r["kind"], r["target"]) for r in rows):
        same = [r for r in rows if r["kind"] == kind and r["target"] == target]
        low = min(same, key=lambda r: r["streams"])
        high = max(same, key=lambda r: r["streams"])
        if low is high:
            continue
        for process, peak in high["peak_rss_mib"].items():
            before = low["peak_rss_mib"][process]
            who = target if process == target else f"{target} {process}"
            lines.append(
                f"{kind} {who}: {before} MiB at {low['streams']} -> {peak} MiB at "
                f"{high['streams']} streams ({(peak / before - 1) * 100:+.0f} %)"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="32,128,256")
    parser.add_argument("--kinds", default="down,up,mixed")
    parser.add_argument("--size", type=int, default=64 * MiB, help="bytes per transfer")
    parser.add_argument(
        "--same-bytes",
        action="store_true",
        help="every row moves as much as the largest: a transfer at N streams carries "
        "size x max(streams) / N bytes, so rows last about as long",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start the host, plugin and uvicorn again for every row, so a row's peak "
        "is not what an earlier row left in the process",
    )
    parser.add_argument("--host-args", default="")
    parser.add_argument("--plugin-args", default="")
    parser.add_argument("--no-uvicorn", action="store_true")
    parser.add_argument(
        "--compose",
        metavar="HOST_URL",
        help="measure a running compose stack (host published at HOST_URL) instead of "
        "starting host + plugin; no uvicorn",
    )
    args = parser.parse_args()
    if args.fresh and args.compose:
        parser.error("--fresh starts processes; a compose stack is measured as it runs")
    streams = [int(s) for s in args.streams.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="concurrency-") as tmp:
        log_dir = Path(tmp)
        with contextlib.ExitStack() as shared:
            targets = None if args.fresh else shared.enter_context(serving_targets(args, log_dir))
            for kind in args.kinds.split(","):
                for n in streams:
                    size = args.size * max(streams) // n if args.same_bytes else args.size
                    with contextlib.ExitStack() as per_row:
                        row_targets = targets or per_row.enter_context(
                            serving_targets(args, log_dir)
                        )
                        for name, (base, pids) in row_targets.items():
                            row = measure_row(kind, n, size, name, base, pids, bool(args.compose))
                            rows.append(row)
                            print(json.dumps(row), flush=True)
    for row in rows:
        ref = next(
            (
                r
                for r in rows
                if r["target"] == "uvicorn"
                and (r["kind"], r["streams"]) == (row["kind"], row["streams"])
            ),
            None,
        )
        if row["target"] == "bridge" and ref:
            row["x_uvicorn"] = round(row["aggregate_mb_s"] / ref["aggregate_mb_s"], 2)
    print()
    print(
        "| kind | streams | MiB each | target | ok/failed | aggregate MB/s | x uvicorn "
        "| slowest/median | Jain | peak RSS MiB | CPU s/GiB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        peaks = ", ".join(f"{k} {v}" for k, v in r["peak_rss_mib"].items())
        cpu = ", ".join(f"{k} {v}" for k, v in r["cpu_s_per_gib"].items())
        print(
            f"| {r['kind']} | {r['streams']} | {r['bytes_per_transfer'] // MiB} | {r['target']} "
            f"| {r['ok']}/{r['failed']} | {r['aggregate_mb_s']} | {r.get('x_uvicorn', '')} "
            f"| {r['slowest_over_median']} | {r['jain']} | {peaks} | {cpu} |"
        )
    print()
    for line in peak_growth(rows):
        print(line)
    return 0 if all(r["failed"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
