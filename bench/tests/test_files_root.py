"""bench.runner.files: the files root the file scenarios serve."""

from __future__ import annotations

import stat
from pathlib import Path

from bench.core.files import pattern_file_name
from bench.runner.files import files_root, write_pattern_files
from plugin_runtime.examples.pattern import PatternVerifier

KiB = 1024


def test_one_pattern_file_per_size_readable_by_every_user(tmp_path: Path) -> None:
    root = tmp_path / "files"
    written = write_pattern_files(root, [64 * KiB, 3 * KiB, 64 * KiB])
    assert [p.name for p in written] == [pattern_file_name(3 * KiB), pattern_file_name(64 * KiB)]
    for path in written:
        verifier = PatternVerifier()
        verifier.update(path.read_bytes())  # raises at the first wrong byte
        assert verifier.offset == path.stat().st_size
        assert path.stat().st_mode & 0o444 == 0o444
    assert root.stat().st_mode & 0o555 == 0o555


def test_a_shared_world_writable_root_keeps_its_mode_and_files_are_not_written_twice(
    tmp_path: Path,
) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o1777)  # as compose's files volume is
    (first,) = write_pattern_files(root, [4 * KiB])
    mtime = first.stat().st_mtime_ns
    write_pattern_files(root, [4 * KiB])
    assert first.stat().st_mtime_ns == mtime
    assert stat.S_IMODE(root.stat().st_mode) == 0o1777


def test_a_temporary_root_is_removed_after_the_run_and_none_without_sizes(tmp_path: Path) -> None:
    with files_root([]) as nothing:
        assert nothing is None
    with files_root([KiB]) as root:
        assert root is not None and (root / pattern_file_name(KiB)).is_file()
    assert not root.exists()
    with files_root([KiB], tmp_path) as given:
        assert given == tmp_path
    assert (tmp_path / pattern_file_name(KiB)).is_file()  # a given root is kept
