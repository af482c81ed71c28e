"""The ResponseWriter state machine, against a recording fake stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.headers import HeadersLockedError
from plugin_runtime.outbox import COPIES_IN_FLIGHT, ResponseBufferBudget
from plugin_runtime.response import ResponseClosedError, ResponseWriter
from plugin_runtime.wire import ResponseMessage

from .conftest import RecordingStream, writer_with_stream


async def test_status_defaults_to_200_and_init_is_implicit_on_first_flush() -> None:
    writer, stream = writer_with_stream()
    writer.headers["Content-Type"] = "text/plain"
    await writer.write(b"hi")
    assert stream.messages == []  # held until flush/close/full chunk
    await writer.flush()
    assert len(stream.messages) == 1
    first = stream.messages[0]
    assert first.init.status_code == 200
    assert [(h.key, list(h.values)) for h in first.init.headers] == [
        ("Content-Type", ["text/plain"])
    ]
    assert first.body_chunk == b"hi" and first.flush


async def test_headers_are_locked_after_commit_with_a_clear_error() -> None:
    writer, _ = writer_with_stream()
    writer.headers.add("Set-Cookie", "a=1")
    writer.headers.add("set-cookie", "b=2")
    assert writer.headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    await writer.write(b"x")
    assert writer.committed
    with pytest.raises(HeadersLockedError, match="already committed"):
        writer.headers["X-Late"] = "1"
    with pytest.raises(HeadersLockedError):
        writer.headers.add("Set-Cookie", "c=3")


async def test_explicit_write_header_then_write() -> None:
    writer, stream = writer_with_stream()
    writer.write_header(201)
    with pytest.raises(HeadersLockedError):
        writer.headers["X"] = "y"
    with pytest.raises(RuntimeError, match="after the response was committed"):
        writer.write_header(202)
    await writer.write(b"abc")
    await writer.close()
    assert [m.HasField("init") for m in stream.messages] == [True]
    assert stream.messages[0].init.status_code == 201
    assert stream.messages[0].body_complete


@pytest.mark.parametrize("status", [0, 42, 99, 1000, -1])
def test_write_header_validates_status(status: int) -> None:
    writer, _ = writer_with_stream()
    with pytest.raises(ValueError, match=r"100\.\.999"):
        writer.write_header(status)
    writer.write_header(status, validate=False)  # the demo's /status path
    assert writer.status == status


def test_header_values_with_newlines_are_refused() -> None:
    writer, _ = writer_with_stream()
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        writer.headers["X-Bad"] = "a\r\nInjected: 1"


async def test_writes_are_split_at_max_chunk_bytes() -> None:
    writer, stream = writer_with_stream(max_chunk_bytes=4)
    await writer.write(b"0123456789")
    await writer.write(b"ab")
    await writer.close()
    assert [m.body_chunk for m in stream.messages] == [b"0123", b"4567", b"89ab"]
    assert all(len(m.body_chunk) <= 4 for m in stream.messages)
    assert stream.messages[-1].body_complete


async def test_small_writes_are_batched_into_full_chunks() -> None:
    writer, stream = writer_with_stream(max_chunk_bytes=4)
    for byte in b"abcdefghij":
        await writer.write(bytes([byte]))
    await writer.close()
    assert [m.body_chunk for m in stream.messages] == [b"abcd", b"efgh", b"ij"]
    assert stream.messages[-1].body_complete


async def test_flush_rides_on_last_chunk_or_sends_an_empty_message() -> None:
    writer, stream = writer_with_stream()
    await writer.flush()  # nothing written: an empty flush message carrying init
    await writer.write(b"abc")
    await writer.flush()
    await writer.flush()
    assert [(m.body_chunk, m.flush, m.HasField("init")) for m in stream.messages] == [
        (b"", True, True),
        (b"abc", True, False),
        (b"", True, False),
    ]


async def test_close_sends_body_complete_once_and_write_after_close_fails() -> None:
    writer, stream = writer_with_stream()
    await writer.close()
    await writer.close()
    assert len(stream.messages) == 1
    only = stream.messages[0]
    assert only.body_complete and only.init.status_code == 200
    with pytest.raises(ResponseClosedError, match="after close"):
        await writer.write(b"late")
    with pytest.raises(ResponseClosedError):
        await writer.flush()


async def test_write_from_async_and_sync_iterables() -> None:
    writer, stream = writer_with_stream(max_chunk_bytes=3)

    async def chunks():  # type: ignore[no-untyped-def]
        for part in (b"ab", b"cd", b"e"):
            yield part

    await writer.write_from(chunks())
    await writer.write_from([b"fg"])
    await writer.close()
    assert stream.body == b"abcdefg"


async def test_write_refuses_str_and_accepts_buffers() -> None:
    writer, stream = writer_with_stream(max_chunk_bytes=4)
    with pytest.raises(TypeError, match="bytes, not str"):
        await writer.write("text")  # type: ignore[arg-type]
    buf = bytearray(b"wxyz")
    await writer.write(buf)
    buf[:] = b"XXXX"  # the writer must have copied mutable data
    await writer.write(memoryview(b"12"))
    await writer.close()
    assert stream.body == b"wxyz12"


# --- property: any sequence of operations yields a valid stream ---------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("header"), st.sampled_from(["A", "b", "Set-Cookie"])),
        st.tuples(st.just("status"), st.integers(min_value=100, max_value=999)),
        st.tuples(st.just("write"), st.binary(max_size=40)),
        st.tuples(st.just("flush"), st.none()),
        st.tuples(st.just("close"), st.none()),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(ops=operations, max_chunk=st.integers(min_value=1, max_value=16))
async def test_any_operation_sequence_keeps_the_stream_invariants(ops, max_chunk) -> None:  # type: ignore[no-untyped-def]
    writer, stream = writer_with_stream(max_chunk_bytes=max_chunk)
    written = bytearray()
    expected_status = 200
    closed = False
    for op, arg in ops:
        if op == "header":
            if writer.committed:
                with pytest.raises(HeadersLockedError):
                    writer.headers.add(arg, "v")
            else:
                writer.headers.add(arg, "v")
        elif op == "status":
            if writer.committed:
                with pytest.raises(RuntimeError):
                    writer.write_header(arg)
            else:
                writer.write_header(arg)
                expected_status = arg
        elif op == "write":
            if closed:
                with pytest.raises(ResponseClosedError):
                    await writer.write(arg)
            else:
                await writer.write(arg)
                written += arg
        elif op == "flush":
            if closed:
                with pytest.raises(ResponseClosedError):
                    await writer.flush()
            else:
                await writer.flush()
        else:
            await writer.close()
            closed = True
    await writer.close()  # what the runtime does when the handler returns

    messages: list[pb.ServeHTTPResponse] = stream.messages
    assert messages, "a closed response sends at least one message"
    assert messages[0].HasField("init"), "response-init is on the first message"
    assert not any(m.HasField("init") for m in messages[1:]), "exactly one init"
    assert messages[0].init.status_code == expected_status
    assert [m.body_complete for m in messages] == [False] * (len(messages) - 1) + [True]
    assert stream.body == bytes(written)
    assert all(len(m.body_chunk) <= max_chunk for m in messages)


@pytest.mark.parametrize(
    ("max_chunk", "budget_bytes", "slots"),
    [
        (1024 * 1024, 32 * 1024 * 1024, 32 // COPIES_IN_FLIGHT),
        (64 * 1024, 32 * 1024 * 1024, 32 * 16 // COPIES_IN_FLIGHT),
        (1024 * 1024, 1, 1),  # never zero: one response can always send
    ],
)
def test_budget_sizes_send_slots_to_full_messages(
    max_chunk: int, budget_bytes: int, slots: int
) -> None:
    assert ResponseBufferBudget(max_chunk, budget_bytes).slots == slots


async def test_responses_beyond_the_send_slots_wait_with_full_size_messages() -> None:
    """Many responses, one slot: at most one message is in flight at any moment, every
    message is full size (no shrinking), and every body arrives whole and in order."""
    KiB = 1024
    budget = ResponseBufferBudget(64 * KiB, 64 * KiB)
    assert budget.slots == 1
    in_flight, peak = 0, 0
    streams = [RecordingStream() for _ in range(8)]

    def counted(stream: RecordingStream) -> Callable[[ResponseMessage], Awaitable[None]]:
        async def send(message: ResponseMessage) -> None:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0)  # let the others try to send meanwhile
            await stream.send(message)
            in_flight -= 1

        return send

    bodies = [bytes([i]) * (256 * KiB + i) for i in range(8)]

    async def respond(i: int) -> None:
        writer = ResponseWriter(counted(streams[i]), 64 * KiB, budget)
        await writer.write(bodies[i])
        await writer.close()

    await asyncio.gather(*(respond(i) for i in range(8)))
    assert peak == 1
    assert budget.sending == 0 and budget.waiting == 0
    for stream, body in zip(streams, bodies, strict=True):
        assert stream.body == body
        assert [len(m.body_chunk) for m in stream.messages[:4]] == [64 * KiB] * 4
