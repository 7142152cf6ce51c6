"""Where a process tree's sockets point: everything BEDS's tests start stays on loopback."""

from __future__ import annotations

import ipaddress

import psutil


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def outside_loopback(root: psutil.Process | None = None) -> list[str]:
    """TCP endpoints of `root` (default: this process) and its descendants off 127.0.0.0/8.

    A listener on 0.0.0.0 or :: counts as outside: it accepts connections from any host.
    A process of the tree whose sockets cannot be read is reported too, never skipped.
    """
    me = root or psutil.Process()
    bad = []
    for proc in [me, *me.children(recursive=True)]:
        try:
            conns = proc.net_connections(kind="tcp")
            name = proc.name()
        except psutil.NoSuchProcess:
            continue  # it ended while we looked: it holds no sockets any more
        except psutil.AccessDenied:
            bad.append(f"pid {proc.pid}: sockets not readable")
            continue
        for c in conns:
            for addr in (c.laddr, c.raddr):
                if addr and not _loopback(addr.ip):
                    bad.append(f"{name} (pid {proc.pid}): {addr.ip}:{addr.port} {c.status}")
    return bad
