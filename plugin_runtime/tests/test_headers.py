"""Headers: conversion from the wire, and refusal of CR/LF/NUL in names and values."""

from __future__ import annotations

import pytest

from plugin_runtime._proto import hooks_http_pb2 as pb
from plugin_runtime.headers import Headers


def test_from_proto_merges_names_case_insensitively_keeping_order() -> None:
    headers = Headers.from_proto(
        [
            pb.HTTPHeader(key="X-Trace", values=["a"]),
            pb.HTTPHeader(key="Accept", values=["text/html", "*/*"]),
            pb.HTTPHeader(key="x-trace", values=["b"]),
        ]
    )
    assert list(headers.items()) == [
        ("X-Trace", "a"),
        ("X-Trace", "b"),
        ("Accept", "text/html"),
        ("Accept", "*/*"),
    ]
    assert headers.get_all("X-TRACE") == ["a", "b"]


@pytest.mark.parametrize("bad", ["\r", "\n", "\0"])
@pytest.mark.parametrize("where", ["name", "value"])
def test_control_characters_are_refused(bad: str, where: str) -> None:
    headers = Headers()
    key, value = ("X" + bad, "v") if where == "name" else ("X", "v" + bad + "w")
    with pytest.raises(ValueError, match=f"header {where} .* contains CR, LF or NUL"):
        headers.add(key, value)
    assert len(headers) == 0


def test_headers_go_onto_the_wire_in_order_with_every_value() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("Content-Type", "text/plain")])
    headers.add("set-cookie", "b=2")
    message = pb.ServeHTTPResponse()
    headers.add_to_proto(message.init.headers)
    assert [(h.key, list(h.values)) for h in message.init.headers] == [
        ("Set-Cookie", ["a=1", "b=2"]),
        ("Content-Type", ["text/plain"]),
    ]
