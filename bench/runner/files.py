"""The files root of a run: one file of the demo pattern per size the file scenarios ask for.

Spawned runs write it to a temporary folder that the host (`--files-root`) and
the plugin (`--files-root`) are started with; against running services (compose)
the bench writes into the folder they share (`--files-root`, BENCH_FILES_ROOT).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from bench.core.files import pattern_file_name
from bench.core.units import MiB
from plugin_runtime.examples.pattern import pattern_chunks

log = logging.getLogger(__name__)


def write_pattern_files(root: Path, sizes: Iterable[int]) -> list[Path]:
    """One file per size (kept when it is there already, at its size); readable by all,
    for services running as other users (containers)."""
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for size in sorted(set(sizes)):
        path = root / pattern_file_name(size)
        if not (path.is_file() and path.stat().st_size == size):
            partial = path.with_suffix(".partial")
            with partial.open("wb") as out:
                out.writelines(pattern_chunks(size, 4 * MiB))
            partial.replace(path)
            log.info("wrote %s (%d bytes)", path, size)
        _readable_by_all(path, 0o444)
        written.append(path)
    _readable_by_all(root, 0o555)
    return written


def _readable_by_all(path: Path, wanted: int) -> None:
    """Add the permission bits `wanted` where they are missing; a folder that is
    already open to all (compose's shared volume, world-writable and owned by
    root) is left as it is, since only its owner could change it."""
    mode = path.stat().st_mode
    if mode & wanted != wanted:
        path.chmod(mode | wanted)


@contextlib.contextmanager
def files_root(sizes: Iterable[int], given: Path | None = None) -> Iterator[Path | None]:
    """The run's files root with its files: `given` (kept), a temporary one (removed
    after the run), or None when no size is asked for."""
    sizes = list(sizes)
    if not sizes:
        yield None
        return
    if given is not None:
        write_pattern_files(given, sizes)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="streambench-files-") as tmp:
        root = Path(tmp)
        write_pattern_files(root, sizes)
        yield root
