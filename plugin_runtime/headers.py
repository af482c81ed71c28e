"""HTTP headers: case-insensitive names, several values per name, lockable."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from plugin_runtime._proto import hooks_http_pb2 as pb

# The host rejects these in names and values (proto invariant 3); we refuse them
# at the call that sets them, where the plugin author can see the mistake.
_FORBIDDEN = ("\r", "\n", "\0")


class HeadersLockedError(RuntimeError):
    """A header was changed after response-init was committed (proto invariant 3)."""


class Headers:
    """Case-insensitive multi-value headers; order of names and values is kept.

    `h["X"]` is the first value, `get_all("X")` all of them; `h["X"] = v` / `set`
    replace, `add` appends (two `Set-Cookie` are two values of one name).
    """

    __slots__ = ("_entries", "_locked_reason")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        # lower-case name -> (name as first spelled, values)
        self._entries: dict[str, tuple[str, list[str]]] = {}
        self._locked_reason: str | None = None
        for key, value in items:
            self.add(key, value)

    @classmethod
    def from_proto(cls, headers: Iterable[pb.HTTPHeader]) -> Headers:
        """Headers as they came off the wire (repeated HTTPHeader), names merged."""
        result = cls()
        entries = result._entries
        for header in headers:
            key = header.key
            lower = key.lower()
            entry = entries.get(lower)
            if entry is None:
                entries[lower] = (key, list(header.values))
            else:
                entry[1].extend(header.values)
        return result

    def add_to_proto(self, repeated: Any) -> None:
        """Append every header to a repeated HTTPHeader field of a message (built in
        place: half the cost of building separate messages and copying them in)."""
        for key, values in self._entries.values():
            repeated.add(key=key, values=values)

    def lock(self, reason: str) -> None:
        """Refuse every change from now on; `reason` is what HeadersLockedError says."""
        self._locked_reason = reason

    @property
    def locked(self) -> bool:
        return self._locked_reason is not None

    def _check_mutable(self, key: str, value: str | None = None) -> None:
        if self._locked_reason is not None:
            raise HeadersLockedError(f"cannot change header {key!r}: {self._locked_reason}")
        if not isinstance(key, str) or not key:
            raise ValueError(f"header name must be a non-empty str, got {key!r}")
        # Runs for every header a handler sets: plain `in` tests, no generator.
        for text, what in ((key, "name"), (value, "value")):
            if text is None:
                continue
            if not isinstance(text, str):
                raise TypeError(f"header {what} must be str, got {type(text).__name__}")
            if "\r" in text or "\n" in text or "\0" in text:
                raise ValueError(f"header {what} {text!r} contains CR, LF or NUL")

    def add(self, key: str, value: str) -> None:
        """Append a value to `key` (keeps existing values)."""
        self._check_mutable(key, value)
        self._entries.setdefault(key.lower(), (key, []))[1].append(value)

    def set(self, key: str, value: str) -> None:
        """Replace all values of `key` with `value`."""
        self._check_mutable(key, value)
        self._entries[key.lower()] = (key, [value])

    def __setitem__(self, key: str, value: str) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        self._check_mutable(key)
        del self._entries[key.lower()]

    def __getitem__(self, key: str) -> str:
        return self._entries[key.lower()][1][0]

    def get(self, key: str, default: str | None = None) -> str | None:
        entry = self._entries.get(key.lower())
        return entry[1][0] if entry else default

    def get_all(self, key: str) -> list[str]:
        entry = self._entries.get(key.lower())
        return list(entry[1]) if entry else []

    def items(self) -> Iterator[tuple[str, str]]:
        """(name, value) pairs, one per value."""
        for key, values in self._entries.values():
            for value in values:
                yield key, value

    def keys(self) -> list[str]:
        return [key for key, _ in self._entries.values()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Headers({list(self.items())!r})"
