"""ServeHTTP messages on the wire, without copying bodies through protobuf objects.

A body message is a few bytes of protobuf framing around the body. Building a
`pb.ServeHTTPResponse` copies the body into the message, serializing copies it
twice more (into upb's buffer, then into a Python bytes object), and parsing a
request copies it into the message and out again: at 1 MiB per message those
copies were about a quarter of the plugin's CPU per GiB under many concurrent
downloads (docs/decisions.md). Here a response is framed with one join and a
request body is one slice of the received bytes.

The encoding is protobuf's own, byte for byte: fields in number order, zero
values left out (tests compare against `SerializeToString`). Inits, which carry
the headers, still go through the generated classes, and a request message in
any shape other than plain body fields is parsed by them as well, so unknown
fields, repeated fields and any field order mean exactly what protobuf says.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugin_runtime._proto import hooks_http_pb2 as pb

# Tags (field number << 3 | wire type) of ServeHTTPRequest / ServeHTTPResponse.
_INIT = 0x0A  # 1, length-delimited
_BODY_CHUNK = 0x12  # 2, length-delimited
_BODY_COMPLETE = 0x18  # 3, varint
_FLUSH = 0x20  # 4, varint (responses only)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@dataclass(slots=True)
class ResponseMessage:
    """One ServeHTTPResponse as the writer builds it; `encode()` gives its wire bytes."""

    init: pb.ServeHTTPResponseInit | None = None
    body_chunk: bytes = b""
    body_complete: bool = False
    flush: bool = False

    def encode(self) -> bytes:
        parts: list[bytes] = []
        if self.init is not None:
            init = self.init.SerializeToString()
            parts += (bytes((_INIT,)) + _varint(len(init)), init)
        if self.body_chunk:
            parts += (bytes((_BODY_CHUNK,)) + _varint(len(self.body_chunk)), self.body_chunk)
        if self.body_complete:
            parts.append(bytes((_BODY_COMPLETE, 1)))
        if self.flush:
            parts.append(bytes((_FLUSH, 1)))
        return b"".join(parts)

    @classmethod
    def from_proto(cls, message: pb.ServeHTTPResponse) -> ResponseMessage:
        return cls(
            init=message.init if message.HasField("init") else None,
            body_chunk=message.body_chunk,
            body_complete=message.body_complete,
            flush=message.flush,
        )


@dataclass(slots=True, frozen=True)
class RequestMessage:
    """One ServeHTTPRequest as the plugin reads it; init is None when absent."""

    init: pb.ServeHTTPRequestInit | None = None
    body_chunk: bytes = b""
    body_complete: bool = False

    @classmethod
    def from_proto(cls, message: pb.ServeHTTPRequest) -> RequestMessage:
        return cls(
            init=message.init if message.HasField("init") else None,
            body_chunk=message.body_chunk,
            body_complete=message.body_complete,
        )


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position); raises IndexError past the end."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def decode_request(data: bytes) -> RequestMessage:
    """The gRPC request deserializer for ServeHTTP.

    The host sends body messages as `body_chunk` then `body_complete`, each at
    most once: those are sliced here. Anything else (an init, a repeated or
    unknown field, a malformed message) is left to protobuf's parser, which
    also raises its usual DecodeError for bytes that are not a message.
    """
    body = b""
    complete = False
    pos = 0
    end = len(data)
    try:
        if pos < end and data[pos] == _BODY_CHUNK:
            length, start = _read_varint(data, pos + 1)
            pos = start + length  # past `end` when the body is cut short: protobuf says so below
            body = data[start:pos]
        if pos < end and data[pos] == _BODY_COMPLETE:
            value, pos = _read_varint(data, pos + 1)
            complete = value != 0
    except (IndexError, ValueError):
        pos = -1
    if pos != end:
        return RequestMessage.from_proto(pb.ServeHTTPRequest.FromString(data))
    return RequestMessage(body_chunk=body, body_complete=complete)
