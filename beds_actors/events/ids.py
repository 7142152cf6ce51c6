"""Compound event ids: a root id plus a child path, so root and parent are read, never looked up.

    <root>[/<segment>]...        e.g. 19ad3f2c1b2e0-5e1f09aa-00002a/a2/b/c

A root is `<µs since the epoch, 13 hex>-<8 hex random per-process tag>-<6 hex counter>`:
unique across processes and hosts without coordination, and sorted by time. A client may send
its own root (the v1 `event_id`, which has no `/`). Each segment is a step letter plus an
optional number or hex token:

    q<hex>  a request sent with `parent_event_id`     b  the batch hop to the adapter
    a2      the second attempt (a retry)              c  the database call
    r1      the first redelivery after a crash        y  the reply
    p1      the first replay from the DLQ             s  a retry scheduled
    f3      fan-out part 3                            d  parked in the DLQ
"""

from __future__ import annotations

import itertools
import re
import secrets
import time

from beds_actors.core.errors import BedsError, ErrorCode

SEP = "/"
MAX_LENGTH = 160
MAX_DEPTH = 8  # segments under the root
# A root: what a v1 client may send as `event_id` (no `/`), or what BEDS makes.
ROOT_PATTERN = r"[A-Za-z0-9._:\-]{1,128}"
SEGMENT_PATTERN = r"[a-z][0-9a-f]{0,27}"
EVENT_ID = re.compile(rf"^{ROOT_PATTERN}(?:{SEP}{SEGMENT_PATTERN}){{0,{MAX_DEPTH}}}$")

# A random per-process tag (not the pid) keeps roots unique across hosts without coordination.
_PROCESS_TAG = secrets.token_hex(4)
_counter = itertools.count(1)


def new_root() -> str:
    """A fresh root id like `19ad3f2c1b2e0-5e1f09aa-00002a`."""
    return f"{time.time_ns() // 1000:013x}-{_PROCESS_TAG}-{next(_counter) & 0xFFFFFF:06x}"


def child(parent: str, step: str, number: int | None = None) -> str:
    """The id of a step under `parent`, e.g. child(r, "a", 2) == f"{r}/a2"."""
    segment = step if number is None else f"{step}{number}"
    event_id = f"{parent}{SEP}{segment}"
    if event_id.count(SEP) > MAX_DEPTH or len(event_id) > MAX_LENGTH:
        raise BedsError(
            ErrorCode.VALIDATION_FAILED,
            f"event lineage too deep: {event_id!r} would exceed {MAX_DEPTH} levels or "
            f"{MAX_LENGTH} characters; start a new trace instead of nesting further",
        )
    return event_id


def root_of(event_id: str) -> str:
    """The root of any event id."""
    return event_id.split(SEP, 1)[0]


def parent_of(event_id: str) -> str | None:
    """The parent of an event id; None for a root."""
    head, sep, _ = event_id.rpartition(SEP)
    return head if sep else None


def depth_of(event_id: str) -> int:
    """Segments under the root (0 for a root)."""
    return event_id.count(SEP)


def check(event_id: str, what: str) -> str:
    """Validate a client-supplied id; raise malformed_request naming `what` otherwise."""
    if len(event_id) > MAX_LENGTH or not EVENT_ID.match(event_id):
        raise BedsError(
            ErrorCode.MALFORMED_REQUEST,
            f"{what}: not a BEDS event id (a root of letters, digits and ._:- up to 128 "
            f"characters, then at most {MAX_DEPTH} /segments, {MAX_LENGTH} characters in all)",
        )
    return event_id


_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def trace_id_of(traceparent: object) -> str | None:
    """The W3C trace id of a `traceparent` header value, or None when absent or invalid.

    An invalid header is ignored, as the W3C Trace Context spec asks of a receiver.
    """
    if isinstance(traceparent, bytes | bytearray):
        traceparent = bytes(traceparent).decode("ascii", "replace")
    if not isinstance(traceparent, str):
        return None
    match = _TRACEPARENT.match(traceparent.strip().lower())
    if match is None or match[1] == "ff" or set(match[2]) == {"0"} or set(match[3]) == {"0"}:
        return None
    return match[2]
