"""How far ahead of what it measures the bench's HTTP client is: downloads through
bench.load.client from the Go-direct handler, the bridge and uvicorn, in the same run.

    .venv/bin/python scripts/measure_client.py [--size 1073741824] [--rounds 3]

Each round downloads `--size` bytes from each target in turn (rounds alternate
targets, so a busy machine slows them alike), every byte checked against the
pattern as the bench does. Per target it prints the best MB/s, the client's CPU
seconds per GiB (this process) and the serving processes' CPU seconds per GiB
(psutil). The client is not the limit while it reads Go direct several times
faster than it reads the bridge, and spends less CPU per GiB than the plugin.
Figures go to docs/bench.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.services import spawned

from bench.load.client import Connection
from bench.runner.targets import Target
from bench.scenarios import BRIDGE, GO_DIRECT, PYTHON_DIRECT
from plugin_runtime.examples.pattern import PatternVerifier

GiB = 1024**3
CHUNK = 1024 * 1024


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def download(target: Target, size: int) -> tuple[float, float, float]:
    """One verified download: (MB/s, client CPU s, server CPU s)."""
    servers = list(target.processes.values())
    verifier = PatternVerifier()
    server_before, client_before = cpu_seconds(servers), time.process_time()
    with Connection(target.base_url, timeout=120) as conn:
        resp = conn.request(
            "GET", f"{target.download_path}?size={size}&chunk={CHUNK}", on_body=verifier.update
        )
    client = time.process_time() - client_before
    server = cpu_seconds(servers) - server_before
    if not (resp.status == 200 and resp.complete and verifier.offset == size):
        raise SystemExit(f"{target.name}: HTTP {resp.status}, {verifier.offset} of {size} bytes")
    return size / resp.seconds / 1e6, client, server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=GiB)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="client-") as tmp:
        with spawned(CHUNK, Path(tmp), {PYTHON_DIRECT}) as services:
            targets = [services.targets[name] for name in (GO_DIRECT, BRIDGE, PYTHON_DIRECT)]
            runs: dict[str, list[tuple[float, float, float]]] = {t.name: [] for t in targets}
            download(targets[1], 16 * CHUNK)  # warm-up: first-use allocations on every side
            for _ in range(args.rounds):
                for target in targets:
                    runs[target.name].append(download(target, args.size))
    per_gib = GiB / args.size
    bridge_best = max(r[0] for r in runs[BRIDGE])
    print(
        f"{'target':14} {'best MB/s':>10} {'x bridge':>9} {'client CPU s/GiB':>17} "
        f"{'server CPU s/GiB':>17}"
    )
    for name, rows in runs.items():
        best = max(r[0] for r in rows)
        client = min(r[1] for r in rows) * per_gib
        server = min(r[2] for r in rows) * per_gib
        print(f"{name:14} {best:10.0f} {best / bridge_best:9.2f} {client:17.2f} {server:17.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
