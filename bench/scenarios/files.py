"""File scenarios: a file of the files root streamed through the plugin, and the same
file offloaded (the plugin names it, the host serves it with sendfile).

The plugin reads a streamed file in chunks, each a fresh object, so a runtime
that kept a reference to every chunk until the response ended would grow with
the file: the bounded-memory verdicts of `file` see it, where the pattern
download (one shared bytes object for every chunk) cannot. The gRPC floor pulls
the same streamed file and discards it; Go direct and uvicorn serve the same
file themselves. Where the host serves the file (offload, Go direct), ranges are
checked too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from bench.core.files import pattern_file_name
from bench.core.profiles import Profile
from bench.core.targets import BRIDGE, GO_DIRECT, GRPC_FLOOR, PYTHON_DIRECT, Target
from bench.core.units import MiB
from bench.load import transfers
from bench.load.client import Connection, Response, TransferError
from bench.scenarios.base import RunContext, Scenario, ScenarioResult
from bench.scenarios.transfer import Transfer


@dataclass(frozen=True)
class RangeCheck:
    """One Range request and how it was answered."""

    first: int
    last: int
    ok: bool
    detail: str = ""


@dataclass
class RangeReading:
    """The ranges a served file was asked for (bench/judge: the ranges verdict)."""

    file_bytes: int
    checks: list[RangeCheck] = field(default_factory=list)

    def to_extra(self) -> dict[str, object]:
        return {"ranges": [c.__dict__ for c in self.checks]}


def ranges_of(size: int) -> list[tuple[int, int]]:
    """The head, a span across the middle and the last byte of a file of `size` bytes."""
    head = min(MiB, size) - 1
    middle = size // 2
    return [(0, head), (middle - 1000, min(middle + 300_000, size - 1)), (size - 1, size - 1)]


@dataclass(frozen=True)
class FileDownload(Transfer):
    """GET /file?path=REL: the plugin streams the file through gRPC, chunk by chunk."""

    kind = "file"
    direction = "down"
    references = (GO_DIRECT, PYTHON_DIRECT, GRPC_FLOOR)
    offload = False

    @classmethod
    def sizes(cls, profile: Profile) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return profile.file_sizes, profile.file_sizes

    def fetch(
        self, conn: Connection, target: Target, byte_range: tuple[int, int] | None = None
    ) -> Response:
        """This scenario's file, whole or one range, checked (bench/load/transfers.py)."""
        name = pattern_file_name(self.size)
        return transfers.file_download(
            conn, target, name, self.size, self.chunk, offload=self.offload, byte_range=byte_range
        )

    def once(self, ctx: RunContext, target: Target) -> Response:
        with Connection(target.base_url, timeout=ctx.timeout_s) as conn:
            return self.fetch(conn, target)

    def run(self, ctx: RunContext, target: Target, result: ScenarioResult) -> None:
        super().run(ctx, target, result)
        if self.serves_ranges(target):
            result.reading = self.check_ranges(ctx, target)
            result.extra.update(result.reading.to_extra())

    def serves_ranges(self, target: Target) -> bool:
        """The host's own file serving (http.ServeContent) answers ranges."""
        return self.offload or target.name == GO_DIRECT

    def check_ranges(self, ctx: RunContext, target: Target) -> RangeReading:
        reading = RangeReading(self.size)
        with Connection(target.base_url, timeout=ctx.timeout_s) as conn:
            for first, last in ranges_of(self.size):
                try:
                    self.fetch(conn, target, (first, last))
                except (TransferError, OSError) as exc:
                    conn.close()
                    reading.checks.append(RangeCheck(first, last, False, str(exc)[:200]))
                else:
                    reading.checks.append(RangeCheck(first, last, True))
        return reading


@dataclass(frozen=True)
class FileOffload(FileDownload):
    """GET /file?path=REL&offload=1: the plugin answers X-Sendfile, the host sends the file."""

    kind = "file-offload"
    references = ()
    offload = True

    @classmethod
    def plan(cls, profile: Profile, chunk: int) -> Iterator[Scenario]:
        for size in profile.file_sizes:
            yield cls(BRIDGE, chunk, size=size, repeats=profile.repeats)
