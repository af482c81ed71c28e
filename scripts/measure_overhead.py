"""Per-request and per-byte overhead, A/B: bridge variants and uvicorn alive at once,
measured in alternating rounds, so a shared machine's load falls on all of them alike.

    .venv/bin/python scripts/measure_overhead.py --kind rps --rounds 8 \\
        --variant before=/tmp/before --variant after=.
    .venv/bin/python scripts/measure_overhead.py --kind upload --mib 256 \\
        --variant after=. --variant 'window4m=.;PLUGIN_RECEIVE_WINDOW_BYTES=4194304'

A variant is NAME=TREE[;ENV=VALUE...]: the plugin runs from TREE (a checkout, e.g.
`git archive` of an older commit; it is the plugin's working directory, so its
`plugin_runtime` is the one imported) with the extra environment (every plugin
and host flag is also an env variable: PLUGIN_*, HOSTSTUB_*). All variants share
`bin/hoststub` and `bin/loadgen` unless HOSTSTUB_BIN is set in a variant.
uvicorn serves the same demo handler from this tree as the reference.

Kinds: `rps` (bin/loadgen, 1 KiB GETs from 32 keep-alive connections: req/s,
p50/p99, CPU us per request of each process), `download`, `upload` (the hashing
`/upload`), `upload-nohash` (`?hash=none`): one curl at a time, MB/s and CPU
s/GiB of each process. Prints every round, then medians and the per-round
ratio of each variant to uvicorn.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SMALL_PATH = "/download?size=1024&chunk=1024"
KINDS = ("rps", "download", "upload", "upload-nohash")


@dataclass
class Target:
    name: str
    url: str
    processes: dict[str, subprocess.Popen[bytes]]
    rounds: list[dict[str, float]] = field(default_factory=list)

    def cpu_seconds(self) -> dict[str, float]:
        out = {}
        for role, proc in self.processes.items():
            times = psutil.Process(proc.pid).cpu_times()
            out[role] = times.user + times.system
        return out


def free_port() -> int:
    sys.path.insert(0, str(REPO))
    from bench.runner.stack import free_tcp_port

    return free_tcp_port()


def wait_ready(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                reply.read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"not ready after {timeout_s:.0f} s: {url}") from None
            time.sleep(0.1)


def start(spec: str, tmp: Path, stack: contextlib.ExitStack) -> Target:
    name, _, rest = spec.partition("=")
    tree, *env_items = rest.split(";")
    env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()))
    env.update(item.split("=", 1) for item in env_items if item)

    def spawn(args: list[str], log: str, cwd: str = tree) -> subprocess.Popen[bytes]:
        with open(tmp / log, "wb") as out:
            proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        stack.callback(proc.wait)
        stack.callback(proc.terminate)
        return proc

    sock = tmp / f"{name}.sock"
    plugin = spawn(
        [PYTHON, "-m", "plugin_runtime", "--app", "plugin_runtime.examples.bench:app",
         "--listen", f"unix:{sock}"],
        f"{name}-plugin.log",
    )  # fmt: skip
    port = free_port()
    host = spawn(
        [env.get("HOSTSTUB_BIN", str(REPO / "bin" / "hoststub")),
         "--listen", f"127.0.0.1:{port}", "--plugin-addr", f"unix:{sock}"],
        f"{name}-host.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/plugins/bench"
    wait_ready(url + SMALL_PATH)
    return Target(name, url, {"host": host, "plugin": plugin})


def start_uvicorn(tmp: Path, stack: contextlib.ExitStack) -> Target:
    port = free_port()
    with open(tmp / "uvicorn.log", "wb") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "uvicorn", "plugin_runtime.examples.bench:asgi",
             "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning", "--no-access-log"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    stack.callback(proc.wait)
    stack.callback(proc.terminate)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + SMALL_PATH)
    return Target("uvicorn", url, {"uvicorn": proc})


def loadgen(url: str, seconds: float) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [str(REPO / "bin" / "loadgen"), "--url", url, "--connections", "32",
         "--duration", f"{seconds}s", "--expect-bytes", "1024"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def one_round(target: Target, kind: str, seconds: float, size: int, upload_file: Path) -> None:
    if kind == "rps":
        loadgen(target.url + SMALL_PATH, 0.5)  # warm-up, not measured
    before = target.cpu_seconds()
    if kind == "rps":
        data = loadgen(target.url + SMALL_PATH, seconds)
        latencies = sorted(data["latencies_us"])
        count = data["requests"]
        row = {
            "req_per_s": count / data["seconds"],
            "p50_ms": latencies[len(latencies) // 2] / 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] / 1000,
            "errors": data["errors"],
        }
        per, unit = count / 1e6, "us_per_request"
    else:
        if kind == "download":
            curl = ["-w", "%{speed_download}", f"{target.url}/download?size={size}"]
        else:
            query = "?hash=none" if kind == "upload-nohash" else ""
            curl = ["-w", "%{speed_upload}", "-T", str(upload_file), f"{target.url}/upload{query}"]
        speed = subprocess.run(
            ["curl", "-sf", "-o", "/dev/null", *curl], capture_output=True, text=True, check=True
        ).stdout
        row = {"MB_per_s": float(speed) / 1e6}
        per, unit = size / 2**30, "s_per_GiB"
    after = target.cpu_seconds()
    for role in before:
        row[f"{role}_cpu_{unit}"] = (after[role] - before[role]) / per
    target.rounds.append(row)
    print(target.name, " ".join(f"{k}={v:.2f}" for k, v in row.items()), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=KINDS, default="rps")
    parser.add_argument("--variant", action="append", required=True, help="NAME=TREE[;ENV=V...]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="per rps round")
    parser.add_argument("--mib", type=int, default=256, help="per transfer")
    parser.add_argument("--no-uvicorn", action="store_true")
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    with (
        tempfile.TemporaryDirectory(prefix="overhead-") as tmp_dir,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmp_dir)
        upload_file = tmp / "upload.bin"
        if args.kind.startswith("upload"):
            with open(upload_file, "wb") as out:
                out.truncate(size)  # zeros, sparse: read back at memory speed
        targets = [start(spec, tmp, stack) for spec in args.variant]
        if not args.no_uvicorn:
            targets.append(start_uvicorn(tmp, stack))
        for _ in range(args.rounds):
            for target in targets:
                one_round(target, args.kind, args.seconds, size, upload_file)
    print("--- medians")
    for target in targets:
        keys = target.rounds[0]
        print(target.name, " ".join(
            f"{k}={statistics.median(r[k] for r in target.rounds):.2f}" for k in keys
        ))  # fmt: skip
    reference = next((t for t in targets if t.name == "uvicorn"), None)
    if reference is not None:
        speed = "req_per_s" if args.kind == "rps" else "MB_per_s"
        for target in targets:
            if target is reference:
                continue
            pairs = list(zip(target.rounds, reference.rounds, strict=True))
            ratios = [mine[speed] / ref[speed] for mine, ref in pairs]
            line = f"{target.name} / uvicorn {speed}: {[round(r, 2) for r in ratios]}"
            line += f" median {statistics.median(ratios):.2f}"
            if args.kind == "rps":
                p99 = statistics.median(mine["p99_ms"] / ref["p99_ms"] for mine, ref in pairs)
                line += f"; p99 ratio median {p99:.2f}"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
