"""File offload through the real host and plugin: the plugin names a file, the host serves it.

The host's files root and the plugin's hold the same files except `which.txt`,
whose content says which root it came from: an answer served from the host's
root was offloaded, one from the plugin's was streamed by the plugin. Covered:
byte-exact files, ranges, conditional requests and HEAD answered by the host;
names that leave the root and files that are not there (403/404, never a byte
of the file); send_file streaming when the host has no files root; a plugin
that sends X-Sendfile anyway, or a body beside it (500 and one log line); a
Starlette FileResponse offloaded through pathsend; a 1 GiB offload in bounded
memory on both sides.
"""

from __future__ import annotations

import email.utils
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import DEADLINE_S, MiB, connect, plugin_idle, rss_growth, wait_until

from bench.runner.stack import Stack, run_stack
from plugin_runtime.examples.pattern import pattern_block

REPORT_SIZE = 5 * MiB + 123
BIG_SIZE = 1024 * MiB
MODIFIED = 1_700_000_000  # report.bin's modification time (whole seconds, as HTTP dates)
SECRET = b"classified bytes beside the root"
RSS_GROWTH_LIMIT = 64 * MiB  # generous: a copy of the file would be 1 GiB
REFUSED = ("../secret.txt", "/etc/passwd", "escape")  # every way out of the root


def make_root(path: Path, which: str) -> Path:
    """report.bin (the pattern), which.txt, a directory, a link out to the secret."""
    (path / "sub").mkdir(parents=True)
    (path / "report.bin").write_bytes(pattern_block(REPORT_SIZE))
    os.utime(path / "report.bin", (MODIFIED, MODIFIED))
    (path / "which.txt").write_text(which)
    (path / "escape").symlink_to("../secret.txt")
    return path


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(host's files root, plugin's files root), beside a secret neither may serve."""
    base = tmp_path_factory.mktemp("files")
    (base / "secret.txt").write_bytes(SECRET)
    host = make_root(base / "host", "host root")
    plugin = make_root(base / "plugin", "plugin root")
    with (host / "big.bin").open("wb") as big:
        big.truncate(BIG_SIZE)  # sparse: a GiB of zeros that costs no disk
    return host, plugin


def _stack(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    host_root: Path | None,
    plugin_root: Path | None,
    app: str = "plugin_runtime.examples.bench:app",
) -> Iterator[Stack]:
    host_args = ["--files-root", str(host_root)] if host_root else []
    env = {"PLUGIN_FILES_ROOT": str(plugin_root)} if plugin_root else {}
    with run_stack(
        app=app,
        plugin_id=name,
        host_args=host_args,
        env=env,
        log_dir=tmp_path_factory.mktemp(f"{name}-logs"),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def offload(tmp_path_factory: pytest.TempPathFactory, roots: tuple[Path, Path]) -> Iterator[Stack]:
    """The demo plugin behind a host with offload on."""
    yield from _stack(tmp_path_factory, "files", *roots)


@pytest.fixture(scope="module")
def no_offload(
    tmp_path_factory: pytest.TempPathFactory, roots: tuple[Path, Path]
) -> Iterator[Stack]:
    """The demo plugin (with its files root) behind a host without one."""
    yield from _stack(tmp_path_factory, "streams", None, roots[1])


def get(
    stack: Stack, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn, prefix = connect(stack)
    try:
        conn.request(method, prefix + path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def host_lines(stack: Stack, needle: str) -> list[str]:
    text = (stack.log_dir / "host.log").read_text(errors="replace")
    return [line for line in text.splitlines() if needle in line]


def test_both_processes_say_their_files_root(offload: Stack, roots: tuple[Path, Path]) -> None:
    assert host_lines(offload, f"files_root={roots[0]}")
    plugin_log = (offload.log_dir / "plugin.log").read_text(errors="replace")
    assert f"files_root={roots[1]}" in plugin_log


def test_offloaded_file_is_byte_exact_and_served_by_the_host(offload: Stack) -> None:
    status, headers, body = get(offload, "/file?path=report.bin&offload=1")
    assert status == 200 and body == pattern_block(REPORT_SIZE)
    assert headers["content-length"] == str(REPORT_SIZE)
    assert headers["accept-ranges"] == "bytes"  # http.ServeContent's
    assert headers["last-modified"] == email.utils.formatdate(MODIFIED, usegmt=True)
    assert "x-sendfile" not in headers
    assert get(offload, "/file?path=which.txt&offload=1")[2] == b"host root"
    assert get(offload, "/file?path=which.txt")[2] == b"plugin root"  # the demo streams


@pytest.mark.parametrize(
    ("first", "last"), [(0, 0), (1000, 1_300_999), (REPORT_SIZE - 17, REPORT_SIZE - 1)]
)
def test_a_range_is_206_with_exactly_its_bytes(offload: Stack, first: int, last: int) -> None:
    status, headers, body = get(
        offload, "/file?path=report.bin&offload=1", {"Range": f"bytes={first}-{last}"}
    )
    assert status == 206
    assert headers["content-range"] == f"bytes {first}-{last}/{REPORT_SIZE}"
    assert body == pattern_block(REPORT_SIZE)[first : last + 1]


@pytest.mark.parametrize(
    "condition",
    [
        {"If-Modified-Since": email.utils.formatdate(MODIFIED, usegmt=True)},
        {"If-None-Match": "*"},  # any current representation matches
    ],
)
def test_conditional_requests_are_304(offload: Stack, condition: dict[str, str]) -> None:
    status, _, body = get(offload, "/file?path=report.bin&offload=1", condition)
    assert status == 304 and body == b""
    earlier = {"If-Modified-Since": email.utils.formatdate(MODIFIED - 3600, usegmt=True)}
    status, _, body = get(offload, "/file?path=report.bin&offload=1", earlier)
    assert status == 200 and len(body) == REPORT_SIZE


def test_head_is_headers_only(offload: Stack) -> None:
    status, headers, body = get(offload, "/file?path=report.bin&offload=1", method="HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == str(REPORT_SIZE)


@pytest.mark.parametrize("name", REFUSED)
def test_names_out_of_the_root_are_refused(offload: Stack, name: str) -> None:
    for query in (f"/file?path={name}&offload=1", f"/file?path={name}"):
        status, _, body = get(offload, query)
        assert status == 403, (query, status, body[:200])
        assert SECRET not in body and b"root:" not in body


@pytest.mark.parametrize(("name", "what"), [("missing.bin", "no such file"), ("sub", "regular")])
def test_missing_files_and_directories_are_404(offload: Stack, name: str, what: str) -> None:
    status, _, body = get(offload, f"/file?path={name}&offload=1")
    assert status == 404 and b"file offload" in body  # the host's answer
    # The host refused it: one line naming the plugin, the path and why.
    wait_until(
        lambda: [line for line in host_lines(offload, "plugin_id=files") if what in line],
        DEADLINE_S,
        what=f"a host log line saying {what!r}",
    )


def test_without_offload_on_the_host_send_file_streams(no_offload: Stack) -> None:
    status, headers, body = get(
        no_offload, "/file?path=report.bin&offload=1", {"Range": "bytes=0-9"}
    )
    # The plugin's own answer: the whole file (ranges are the host's), from its root.
    assert status == 200 and body == pattern_block(REPORT_SIZE)
    assert headers["content-length"] == str(REPORT_SIZE) and "accept-ranges" not in headers
    assert get(no_offload, "/file?path=which.txt&offload=1")[2] == b"plugin root"
    assert get(no_offload, "/file?path=escape&offload=1")[0] == 403


@pytest.fixture(scope="module")
def rogue(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    roots: tuple[Path, Path],
) -> Iterator[Stack]:
    """The misbehaving plugin behind a host with offload on (param True) or off."""
    name = "rogue-on" if request.param else "rogue-off"
    host_root = roots[0] if request.param else None
    yield from _stack(
        tmp_path_factory, name, host_root, None, "plugin_runtime.examples.misbehaving:app"
    )


@pytest.mark.parametrize(
    ("rogue", "case", "status", "reason"),
    [
        (False, "/sendfile?name=report.bin", 500, "X-Sendfile while file offload is off"),
        (True, "/sendfile-with-body?name=report.bin", 500, "body_chunk beside X-Sendfile"),
        (True, "/sendfile?name=../secret.txt", 403, "path is not a readable file inside"),
        (True, "/sendfile?name=/etc/passwd", 403, "path is not a readable file inside"),
    ],
    indirect=["rogue"],
)
def test_the_host_refuses_what_a_plugin_must_not_offload(
    rogue: Stack, case: str, status: int, reason: str
) -> None:
    path = case.partition("?")[0]

    def logged() -> int:
        return sum(
            1
            for line in host_lines(rogue, f"plugin_id={rogue.plugin_id}")
            if re.search(rf"path={re.escape(path)}\b", line) and reason in line
        )

    before = logged()
    got, headers, body = get(rogue, case)
    assert got == status, body[:200]
    assert SECRET not in body and b"root:" not in body and b"beside the file" not in body
    assert "x-sendfile" not in headers
    wait_until(lambda: logged() == before + 1, DEADLINE_S, what=f"one log line: {reason!r}")
    wait_until(lambda: plugin_idle(rogue), DEADLINE_S, what="no stream left")


def test_starlette_file_response_is_offloaded(
    tmp_path_factory: pytest.TempPathFactory, roots: tuple[Path, Path]
) -> None:
    for stack in _stack(
        tmp_path_factory, "starlette-files", *roots, app="plugin_runtime.examples.starlette_app:app"
    ):
        url = f"{stack.plugin_url}/files"
        with httpx.Client(timeout=30.0) as client:
            assert client.get(f"{url}/which.txt").text == "host root"  # pathsend -> X-Sendfile
            whole = client.get(f"{url}/report.bin")
            assert whole.status_code == 200 and whole.content == pattern_block(REPORT_SIZE)
            etag = whole.headers["etag"]  # Starlette's, served with the host's answer
            again = client.get(f"{url}/report.bin", headers={"If-None-Match": etag})
            assert again.status_code == 304 and again.content == b""
            part = client.get(f"{url}/report.bin", headers={"Range": "bytes=100-199"})
            assert part.status_code == 206
            assert part.content == pattern_block(REPORT_SIZE)[100:200]
            assert client.get(f"{url}/escape").status_code == 404  # StaticFiles' refusal


def test_a_gibibyte_offloaded_in_bounded_memory(offload: Stack, record_figure) -> None:
    get(offload, "/file?path=report.bin&offload=1")  # warm both sides up
    conn, prefix = connect(offload, timeout=60.0)
    zeros = bytes(MiB)
    total = 0
    with rss_growth(offload) as growth:
        conn.request("GET", f"{prefix}/file?path=big.bin&offload=1")
        resp = conn.getresponse()
        assert resp.status == 200
        while data := resp.read(MiB):
            assert data == zeros[: len(data)], f"non-zero byte near offset {total}"
            total += len(data)
    conn.close()
    assert total == BIG_SIZE, f"{total} of {BIG_SIZE} bytes"
    record_figure("offload_1GiB.host_rss_growth", growth.host / MiB, "MiB")
    record_figure("offload_1GiB.plugin_rss_growth", growth.plugin / MiB, "MiB")
    assert growth.samples > 3, "too few samples to see the transfer"
    assert growth.host < RSS_GROWTH_LIMIT, f"host grew {growth.host / MiB:.1f} MiB"
    assert growth.plugin < RSS_GROWTH_LIMIT, f"plugin grew {growth.plugin / MiB:.1f} MiB"
