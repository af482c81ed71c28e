"""The hand-framed ServeHTTP messages are protobuf's own encoding, byte for byte."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.wire import RequestMessage, ResponseMessage, decode_request

bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"", b"x" * 127, b"y" * 128, b"z" * 16383, b"w" * 16384, b"v" * (1 << 20)]),
)
response_inits = st.one_of(
    st.none(),
    st.builds(
        lambda status, headers: pb.ServeHTTPResponseInit(
            status_code=status,
            headers=[pb.HTTPHeader(key=k, values=v) for k, v in headers],
        ),
        st.integers(-(2**31), 2**31 - 1),
        st.lists(st.tuples(st.text(max_size=8), st.lists(st.text(max_size=8), max_size=3))),
    ),
)


@given(response_inits, bodies, st.booleans(), st.booleans())
def test_response_encoding_is_protobufs(
    init: pb.ServeHTTPResponseInit | None, body: bytes, complete: bool, flush: bool
) -> None:
    message = ResponseMessage(init=init, body_chunk=body, body_complete=complete, flush=flush)
    expected = pb.ServeHTTPResponse(body_chunk=body, body_complete=complete, flush=flush)
    if init is not None:
        expected.init.CopyFrom(init)
    assert message.encode() == expected.SerializeToString()
    assert ResponseMessage.from_proto(expected) == message


def test_an_empty_init_is_still_present() -> None:
    encoded = ResponseMessage(init=pb.ServeHTTPResponseInit()).encode()
    assert encoded == b"\x0a\x00"
    assert pb.ServeHTTPResponse.FromString(encoded).HasField("init")


@given(bodies, st.booleans())
def test_body_messages_decode_like_protobuf(body: bytes, complete: bool) -> None:
    data = pb.ServeHTTPRequest(body_chunk=body, body_complete=complete).SerializeToString()
    assert decode_request(data) == RequestMessage(body_chunk=body, body_complete=complete)


@pytest.mark.parametrize(
    "message",
    [
        pb.ServeHTTPRequest(init=pb.ServeHTTPRequestInit(method="GET", url="/x")),
        pb.ServeHTTPRequest(
            init=pb.ServeHTTPRequestInit(method="PUT"), body_chunk=b"abc", body_complete=True
        ),
    ],
)
def test_messages_with_an_init_decode_like_protobuf(message: pb.ServeHTTPRequest) -> None:
    assert decode_request(message.SerializeToString()) == RequestMessage.from_proto(message)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # body_complete before body_chunk: any field order is valid protobuf.
        (b"\x18\x01\x12\x02ab", RequestMessage(body_chunk=b"ab", body_complete=True)),
        # A repeated bytes field: the last one wins.
        (b"\x12\x01a\x12\x01b", RequestMessage(body_chunk=b"b")),
        # An unknown field (number 9, varint) is skipped.
        (b"\x12\x01a\x48\x05", RequestMessage(body_chunk=b"a")),
        # A non-canonical varint length (2 encoded in two bytes).
        (b"\x12\x82\x00ab", RequestMessage(body_chunk=b"ab")),
        (b"", RequestMessage()),
    ],
)
def test_unusual_shapes_fall_back_to_protobufs_parser(
    data: bytes, expected: RequestMessage
) -> None:
    assert decode_request(data) == expected
    assert decode_request(data) == RequestMessage.from_proto(pb.ServeHTTPRequest.FromString(data))


@pytest.mark.parametrize(
    "data",
    [
        b"\x12\x05ab",  # body shorter than its length
        b"\x12",  # length missing
        b"\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # varint too long
        b"\x18",  # varint missing
    ],
)
def test_malformed_messages_raise_protobufs_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_request(data)
