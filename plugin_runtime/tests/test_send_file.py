"""ResponseWriter.send_file: offloaded as one X-Sendfile message when the host offers
it, streamed by the plugin otherwise; refusals before anything is sent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plugin_runtime import Request, ResponseWriter
from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.examples.pattern import pattern_block
from plugin_runtime.files import FileChangedError, FilesRoot, stream_file
from plugin_runtime.wire import ResponseMessage

from .conftest import RecordingStream, writer_with_stream

SIZE = 2500


@pytest.fixture
def root(tmp_path: Path) -> FilesRoot:
    base = tmp_path / "files"
    (base / "docs").mkdir(parents=True)
    (base / "docs" / "report.pdf").write_bytes(pattern_block(SIZE))
    (base / "blob").write_bytes(b"abc")
    return FilesRoot(base)


def headers_of(message: pb.ServeHTTPResponse) -> dict[str, list[str]]:
    return {h.key: list(h.values) for h in message.init.headers}


async def test_offloaded_answer_is_one_message_naming_the_file(root: FilesRoot) -> None:
    writer, stream = writer_with_stream(files_root=root, offload=True)
    writer.headers["Cache-Control"] = "private"
    await writer.send_file(Path(root.path) / "docs" / "report.pdf")  # absolute: made relative
    (only,) = stream.messages
    assert only.init.status_code == 200 and only.body_complete and not only.body_chunk
    assert headers_of(only) == {
        "Cache-Control": ["private"],
        "Content-Type": ["application/pdf"],
        "X-Sendfile": ["docs/report.pdf"],
    }
    assert writer.closed


async def test_offload_keeps_the_handlers_content_type(root: FilesRoot) -> None:
    writer, stream = writer_with_stream(files_root=root, offload=True)
    writer.headers["Content-Type"] = "text/x-custom"
    await writer.send_file("blob")
    assert headers_of(stream.messages[0])["Content-Type"] == ["text/x-custom"]


async def test_without_offload_the_file_is_streamed_in_full_chunks(root: FilesRoot) -> None:
    writer, stream = writer_with_stream(max_chunk_bytes=1000, files_root=root)
    await writer.send_file("docs/report.pdf")
    assert [len(m.body_chunk) for m in stream.messages] == [1000, 1000, 500]
    assert stream.body == pattern_block(SIZE)
    first = stream.messages[0]
    assert first.init.status_code == 200
    assert headers_of(first) == {
        "Content-Type": ["application/pdf"],
        "Content-Length": [str(SIZE)],
    }
    assert stream.messages[-1].body_complete


async def test_another_status_is_streamed_even_with_offload(root: FilesRoot) -> None:
    writer, stream = writer_with_stream(max_chunk_bytes=1000, files_root=root, offload=True)
    await writer.send_file("blob", status=404)
    assert stream.messages[0].init.status_code == 404
    assert "X-Sendfile" not in headers_of(stream.messages[0]) and stream.body == b"abc"


@pytest.mark.parametrize("offload", [False, True])
@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("../outside", ValueError, "'..' may not lead out"),
        ("/etc/passwd", ValueError, "outside the files root"),
        ("", ValueError, "not a non-empty text path"),
    ],
)
async def test_bad_names_are_refused_before_anything_is_sent(
    root: FilesRoot, offload: bool, name: str, error: type[Exception], message: str
) -> None:
    writer, stream = writer_with_stream(files_root=root, offload=offload)
    with pytest.raises(error, match=message):
        await writer.send_file(name)
    assert stream.messages == [] and not writer.committed


async def test_missing_file_is_file_not_found_before_anything_is_sent(root: FilesRoot) -> None:
    writer, stream = writer_with_stream(files_root=root)
    with pytest.raises(FileNotFoundError):
        await writer.send_file("nope.txt")
    with pytest.raises(FileNotFoundError):  # a directory is answered like a missing file
        await writer.send_file("docs")
    assert stream.messages == [] and not writer.committed


async def test_send_file_needs_a_root_and_an_uncommitted_response(root: FilesRoot) -> None:
    writer, _ = writer_with_stream()
    with pytest.raises(RuntimeError, match="needs a files root: start the runtime with"):
        await writer.send_file("blob")
    writer, _ = writer_with_stream(files_root=root, offload=True)
    writer.write_header(200)
    with pytest.raises(RuntimeError, match="after the response was committed"):
        await writer.send_file("blob")


async def test_a_file_that_shrinks_while_streamed_fails_the_response(root: FilesRoot) -> None:
    path = os.path.join(root.path, "docs", "report.pdf")
    stream = RecordingStream()

    async def send(message: ResponseMessage) -> None:
        os.truncate(path, 1500)  # after the first chunk went out
        await stream.send(message)

    writer = ResponseWriter(send, 1000, files_root=root)
    with pytest.raises(FileChangedError, match="it shrank"):
        await stream_file(writer, await root.open("docs/report.pdf"))
    assert not any(m.body_complete for m in stream.messages)  # never looks complete


async def test_the_server_offloads_only_when_the_request_offers_it(
    plugin_factory, root: FilesRoot
) -> None:  # type: ignore[no-untyped-def]
    async def handler(request: Request, response: ResponseWriter) -> None:
        await response.send_file("blob")

    client = await plugin_factory(handler, files_root=root)
    offered = [("X-Sendfile-Type", "X-Sendfile")]
    init, body, messages = await client.fetch("/", headers=offered)
    assert len(messages) == 1 and body == b""
    assert headers_of(messages[0])["X-Sendfile"] == ["blob"]
    init, body, messages = await client.fetch("/")
    assert body == b"abc" and "X-Sendfile" not in headers_of(messages[0])
    assert init.status_code == 200
