"""Serving traffic stays on this machine: the load generator and the servers it drives run in
the same container, and nothing else may ever be a target."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

LOOPBACK_HOST = "127.0.0.1"


class NotLoopback(ValueError):
    """A URL whose host is not 127.0.0.1."""


def require_loopback(url: str) -> str:
    """``url`` unchanged when its host is 127.0.0.1; anything else is refused, so a mistake can
    never send a load test to another machine."""
    host = urlsplit(url).hostname
    if host != LOOPBACK_HOST:
        raise NotLoopback(f"serving traffic goes to {LOOPBACK_HOST} only, not to {host!r} ({url})")
    return url


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server started as a child process."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK_HOST, 0))
        return int(sock.getsockname()[1])
