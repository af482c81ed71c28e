"""--listen: `unix:/path.sock` or `HOST:PORT`, checked before anything is bound."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass


class ListenAddressError(ValueError):
    """--listen is not `unix:/path.sock` or `HOST:PORT`, or cannot be bound."""


@dataclass(frozen=True)
class ListenAddress:
    grpc_target: str
    socket_path: str | None  # for unix sockets


def parse_listen(address: str) -> ListenAddress:
    """Check `unix:/path.sock` or `HOST:PORT` and say what is wrong otherwise."""
    if address.startswith("unix:"):
        path = address.removeprefix("unix:")
        if path.startswith("//"):
            path = path[2:]  # unix:///abs/path form
        if not path:
            raise ListenAddressError(f"--listen {address!r}: empty unix socket path")
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise ListenAddressError(
                f"--listen {address!r}: directory {directory!r} does not exist"
            )
        return ListenAddress(f"unix:{path}", path)
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ListenAddressError(
            f"--listen {address!r}: expected unix:/path.sock or HOST:PORT (e.g. 127.0.0.1:50051)"
        )
    return ListenAddress(address, None)


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IPs (brackets allowed); False for any other name."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost: cannot tell, so warn
        return False
