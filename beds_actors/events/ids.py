"""Event IDs: time-ordered and unique across processes and hosts, prefixed with their origin."""

from __future__ import annotations

import itertools
import secrets
import time

# A random per-process tag (not the pid) keeps IDs unique across hosts without coordination.
_PROCESS_TAG = secrets.token_hex(4)
_counter = itertools.count(1)


def new_event_id(origin: str) -> str:
    """A fresh event ID like `appServer.rBroker:18c2f9a0b1c2d-5e1f09aa-000001`."""
    return f"{origin}:{time.time_ns() // 1000:x}-{_PROCESS_TAG}-{next(_counter) & 0xFFFFFF:06x}"
