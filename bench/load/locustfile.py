"""Locust load for the streaming bridge: streamed downloads, streamed uploads, small requests.

    locust -f bench/load/locustfile.py --host http://127.0.0.1:8065/plugins/bench
    locust -f bench/load/locustfile.py --host http://127.0.0.1:8000 --headless -u 4 -r 4 -t 30s \\
        --csv results/locust --html results/locust.html
    locust -f bench/load/locustfile.py --master / --worker --master-host=...  (compose)
    locust -f bench/load/locustfile.py --processes 2 ...              (master + 2 workers here)

Users stopped mid-transfer at the end of a run are not reported (a cut transfer is
neither a success nor a server failure); give --stop-timeout to let them finish.

--host is the base URL the demo routes hang off: the bridge prefix
(`http://HOST:8065/plugins/bench`), the Go-direct reference (`http://HOST:8065/direct`,
download and upload only) or a bare uvicorn serving `plugin_runtime.examples.bench:asgi`
(`http://HOST:8000`). Pick users by class name on the command line
(`... DownloadUser UploadUser`) or in the web UI's class picker (`--class-picker`).

Environment (read by every worker, so set it on workers too):
  BENCH_DOWNLOAD_SIZE  bytes per download (default 16 MiB)
  BENCH_UPLOAD_SIZE    bytes per upload (default 16 MiB)
  BENCH_CHUNK          plugin write size, client read size and upload piece size (64 KiB)
  BENCH_VERIFY         1 (default) checks every downloaded byte and the upload's sha256
  BENCH_WAIT_S         pause between tasks of one user (default 0)

The step ramp of `python -m bench capacity` (opt-in: read by the master only):
  BENCH_RAMP_LEVELS    1,2,4,... users per step, or a capacity profile name (smoke,
                       quick, full: 1, 2, 4, ... up to its maximum; bench/core/profiles.py).
                       Unset: no shape, -u/-r/-t apply as usual.
  BENCH_RAMP_STEP_S    seconds per step (default 30)
  BENCH_RAMP_STOP_ON_FAILURE  1 (default): end the ramp as soon as a request failed
    BENCH_RAMP_LEVELS=quick locust -f bench/load/locustfile.py --headless \
        --host http://127.0.0.1:8065/plugins/bench DownloadUser UploadUser   (mixed)

Why not HttpUser: Locust's HTTP clients report a streamed body as 0 bytes and time
it to the headers. These users read bodies incrementally themselves (a requests
Session, cooperative under gevent) and fire the request event with the real byte
count and the time to the last byte. For "upload" rows the reported content size
is the request body sent, since that is the bytes that moved.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator

import requests
from locust import LoadTestShape, User, constant, task

from bench.core.profiles import parse_levels, step_users
from bench.load.client import TransferError
from plugin_runtime.examples.pattern import PatternVerifier, pattern_chunks, pattern_sha256

MiB = 1024 * 1024


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name} must be a number of bytes, not {raw!r}") from exc


DOWNLOAD_SIZE = _env_int("BENCH_DOWNLOAD_SIZE", 16 * MiB)
UPLOAD_SIZE = _env_int("BENCH_UPLOAD_SIZE", 16 * MiB)
CHUNK = _env_int("BENCH_CHUNK", 64 * 1024)
VERIFY = os.environ.get("BENCH_VERIFY", "1") not in ("0", "false", "no")
WAIT_S = float(os.environ.get("BENCH_WAIT_S", "0"))


class StreamingUser(User):
    """Base: one requests.Session per user, URLs joined onto --host (prefix kept)."""

    abstract = True
    wait_time = constant(WAIT_S)

    def on_start(self) -> None:
        if not self.host:
            raise ValueError("no --host given (e.g. http://127.0.0.1:8065/plugins/bench)")
        self.base_url = self.host.rstrip("/")
        self.session = requests.Session()

    def on_stop(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    @contextlib.contextmanager
    def report(self, request_type: str, name: str) -> Iterator[dict[str, int]]:
        """Time the block and fire Locust's request event with meta["response_length"].

        An Exception is a failed request (with the bytes moved so far). A user stopped
        mid-transfer (GreenletExit at the end of a run) is not reported at all: a cut
        transfer is neither a success nor the server's failure.
        """
        meta = {"response_length": 0}
        start_time = time.time()
        started = time.perf_counter()
        exception: Exception | None = None
        try:
            yield meta
        except Exception as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=meta["response_length"],
            exception=exception,
            context={},
            start_time=start_time,
            url=self.base_url,
        )


class DownloadUser(StreamingUser):
    """GET /download, read BENCH_CHUNK at a time; reports bytes actually received."""

    @task
    def download(self) -> None:
        with self.report("GET", f"download {DOWNLOAD_SIZE}") as meta:
            received = 0
            verifier = PatternVerifier() if VERIFY else None
            url = self.url(f"/download?size={DOWNLOAD_SIZE}&chunk={CHUNK}")
            with self.session.get(url, stream=True, timeout=60) as resp:
                if resp.status_code != 200:
                    raise TransferError(f"download answered HTTP {resp.status_code}")
                # stream() raises on a cut chunked body, so a truncation is a failure.
                for data in resp.raw.stream(CHUNK, decode_content=False):
                    received += len(data)
                    meta["response_length"] = received
                    if verifier is not None:
                        verifier.update(memoryview(data))
            if received != DOWNLOAD_SIZE:
                raise TransferError(f"download got {received} of {DOWNLOAD_SIZE} bytes")


class UploadUser(StreamingUser):
    """POST /upload from a generator (sent chunked); reports the bytes sent."""

    @task
    def upload(self) -> None:
        with self.report("POST", f"upload {UPLOAD_SIZE}") as meta:
            sent = 0

            def body() -> Iterator[bytes]:
                nonlocal sent
                for piece in pattern_chunks(UPLOAD_SIZE, CHUNK):
                    sent += len(piece)
                    yield bytes(piece)

            resp = self.session.post(self.url("/upload"), data=body(), timeout=60)
            meta["response_length"] = sent
            if resp.status_code != 200:
                raise TransferError(f"upload answered HTTP {resp.status_code}")
            answer = json.loads(resp.content)
            if answer.get("bytes") != UPLOAD_SIZE:
                raise TransferError(f"plugin counted {answer.get('bytes')} of {UPLOAD_SIZE}")
            if VERIFY and answer.get("sha256") != pattern_sha256(UPLOAD_SIZE):
                raise TransferError("upload sha256 differs from what was sent")


class SmallRequestUser(StreamingUser):
    """GET /status?code=200: per-request overhead of the bridge (not on /direct)."""

    @task
    def small(self) -> None:
        with self.report("GET", "status 200") as meta:
            resp = self.session.get(self.url("/status?code=200"), timeout=10)
            meta["response_length"] = len(resp.content)
            if resp.status_code != 200:
                raise TransferError(f"status answered HTTP {resp.status_code}")


RAMP_LEVELS = os.environ.get("BENCH_RAMP_LEVELS", "")


class StepRampShape(LoadTestShape):
    """The capacity ramp as a Locust load shape: hold each level for BENCH_RAMP_STEP_S.

    Locust uses any concrete LoadTestShape of a locustfile automatically, so this one is
    abstract (ignored) unless BENCH_RAMP_LEVELS is set. The shape runs on the master and
    Locust spreads the users over its workers (compose: `--scale locust-worker=N`).
    Memory is not judged here (`python -m bench capacity` does that); with
    BENCH_RAMP_STOP_ON_FAILURE the ramp ends as soon as a request has failed, so the
    last step in the CSV history is the first that did not hold.
    """

    abstract = not RAMP_LEVELS

    def __init__(self) -> None:
        super().__init__()
        self.levels = parse_levels(RAMP_LEVELS or "smoke")
        self.step_s = float(os.environ.get("BENCH_RAMP_STEP_S", "30"))
        self.stop_on_failure = os.environ.get("BENCH_RAMP_STOP_ON_FAILURE", "1") not in (
            "0",
            "false",
            "no",
        )

    def tick(self) -> tuple[int, float] | None:
        users = step_users(self.levels, self.step_s, self.get_run_time())
        failed = self.runner is not None and self.runner.stats.total.num_failures > 0
        if users is None or (self.stop_on_failure and failed):
            return None
        return users, float(users)  # reach the step's users within about a second
