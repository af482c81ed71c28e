"""The Outbox on its own: the last message kept for the RPC, raw messages one at a
time, the one-loop-turn push, and the send slots it counts."""

from __future__ import annotations

import asyncio

import pytest

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.headers import Headers
from plugin_runtime.outbox import Outbox, ResponseBufferBudget
from plugin_runtime.response import ResponseWriter
from plugin_runtime.wire import ResponseMessage

from .conftest import RecordingStream


async def test_hold_last_keeps_the_complete_message_for_the_rpc() -> None:
    stream = RecordingStream()
    outbox = Outbox(stream.send, 4, hold_last=True)
    outbox.start(201, Headers([("X-A", "1")]))
    await outbox.write(b"abcdefghij")
    await outbox.close()
    # The full chunks went; the last one (with body_complete) is the RPC's.
    assert [m.body_chunk for m in stream.messages] == [b"abcd", b"efgh"]
    assert stream.messages[0].init.status_code == 201
    last = await outbox.last_message()
    assert last.body_chunk == b"ij" and last.body_complete and last.init is None
    assert len(stream.messages) == 2


async def test_a_handler_still_running_after_close_gets_its_body_pushed() -> None:
    stream = RecordingStream()
    outbox = Outbox(stream.send, 64, hold_last=True)
    outbox.start(200, Headers())
    await outbox.write(b"answer")
    await outbox.close()
    assert stream.messages == []  # kept until the loop turns once
    await asyncio.sleep(0)  # the handler is still working when the loop turns
    last = await outbox.last_message()  # returns once the push went out
    (pushed,) = stream.messages
    assert pushed.body_chunk == b"answer" and pushed.flush and not pushed.body_complete
    assert last == ResponseMessage(body_complete=True)


async def test_raw_messages_wait_one_at_a_time_and_the_last_is_returned() -> None:
    stream = RecordingStream()
    outbox = Outbox(stream.send, hold_last=True)
    first, second = ResponseMessage(body_chunk=b"1"), ResponseMessage(body_chunk=b"2")
    await outbox.send_raw(first)
    assert stream.messages == []
    await outbox.send_raw(second)
    assert [m.body_chunk for m in stream.messages] == [b"1"]
    assert await outbox.last_message() is second


async def test_send_last_sends_what_was_kept_before_a_failure() -> None:
    stream = RecordingStream()
    outbox = Outbox(stream.send, hold_last=True)
    outbox.start(200, Headers())
    await outbox.write(b"whole")
    await outbox.close()
    await outbox.send_last()
    (only,) = stream.messages
    assert only.body_chunk == b"whole" and only.body_complete
    assert only.init.status_code == 200


async def test_budget_counts_the_slots_in_use_while_a_message_is_sent() -> None:
    budget = ResponseBufferBudget(4, 4)
    seen: list[tuple[int, int]] = []

    async def send(message: ResponseMessage) -> None:
        seen.append((budget.sending, budget.waiting))

    outbox = Outbox(send, 4, budget)
    outbox.start(200, Headers())
    await outbox.write(b"abcdefgh")
    await outbox.close()
    assert seen == [(1, 0), (1, 0)]
    assert budget.sending == 0 and budget.waiting == 0


def test_a_writer_over_an_outbox_takes_its_chunk_size_and_nothing_else() -> None:
    outbox = Outbox(RecordingStream().send, 123)
    assert ResponseWriter(outbox).max_chunk_bytes == 123
    with pytest.raises(ValueError, match="belong to the Outbox"):
        ResponseWriter(outbox, 64)
    with pytest.raises(ValueError, match="max_chunk_bytes must be >= 1"):
        Outbox(RecordingStream().send, 0)


async def test_init_rides_on_the_first_message_only() -> None:
    stream = RecordingStream()
    outbox = Outbox(stream.send, 2)
    outbox.start(404, Headers([("Content-Type", "text/plain")]))
    await outbox.write(b"abcd")
    await outbox.flush()
    await outbox.close()
    inits = [m.init for m in stream.messages if m.HasField("init")]
    assert inits == [
        pb.ServeHTTPResponseInit(
            status_code=404, headers=[pb.HTTPHeader(key="Content-Type", values=["text/plain"])]
        )
    ]
    assert stream.messages[0].HasField("init") and stream.body == b"abcd"
