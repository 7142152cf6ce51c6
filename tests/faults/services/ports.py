"""Loopback port choice and probing that never lands on the machine's shared servers."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"

# Ports of the machine's shared servers: never chosen, whatever the caller asks for.
SHARED_PORTS = frozenset({5672, 25672, 3306, 4369})


def port_is_free(port: int) -> bool:
    """True when 127.0.0.1:`port` can be bound (as a server with SO_REUSEADDR would)."""
    if port in SHARED_PORTS:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A currently free loopback port chosen by the kernel."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = int(s.getsockname()[1])
        if port not in SHARED_PORTS:
            return port


def prefer_ports(*preferred: int) -> tuple[int, ...]:
    """`preferred` when all of them are free, else as many fresh free ports."""
    if all(port_is_free(p) for p in preferred):
        return preferred
    return tuple(free_port() for _ in preferred)


def port_accepts(port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False
