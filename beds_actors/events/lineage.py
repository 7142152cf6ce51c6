"""Where one delivery of a request sits in its trace: the request id, this delivery's id, root.

The request id (echoed as the reply's `event_id`) stays the same across retries, redeliveries
and replays; each of those is a child under it, so a trace fetched from any of them shows all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beds_actors.events.ids import SEP, check, child, new_root, root_of, trace_id_of

# Headers BEDS stamps so that later deliveries of a request keep its lineage.
EVENT = "x-beds-event-id"  # the request id, stamped on retries and replays
REPLAYS = "x-beds-replays"  # how often an operator replayed it from the DLQ
TRACEPARENT = "traceparent"  # W3C Trace Context, from an OpenTelemetry client


@dataclass(frozen=True, slots=True)
class Lineage:
    """The ids of one delivery: `event_id` is this delivery's own event."""

    request_id: str  # what the reply carries as `event_id`
    event_id: str  # this delivery: the request id, or a child (retry, redelivery, replay)
    parent: str | None
    root: str
    trace_id: str


def stable_root(message_id: str, sent: datetime) -> str:
    """A root derived from a message's id and send time: the same for every redelivery."""
    digest = hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()
    return f"{int(sent.timestamp() * 1_000_000):013x}-{digest[:8]}-{digest[8:14]}"


def of_delivery(
    *,
    headers: dict[str, Any],
    message_id: str | None,
    timestamp: datetime | None,
    client_event_id: str | None,
    client_parent: str | None,
    attempt: int,
    returns: int,
) -> Lineage:
    """Lineage of one delivery; raises malformed_request for a client id that is not valid."""
    parent = check(client_parent, "parent_event_id") if client_parent else None
    stamped = headers.get(EVENT)
    if isinstance(stamped, bytes | bytearray):
        stamped = bytes(stamped).decode("utf-8", "replace")
    if isinstance(stamped, str) and stamped:
        request_id = check(stamped, EVENT)
    elif client_event_id:
        request_id = check(client_event_id, "event_id")
    else:
        if message_id and timestamp is not None:
            own = stable_root(message_id, timestamp)
        else:
            own = new_root()
        request_id = child(parent, "q" + own.replace("-", "")) if parent else own
    event_id = request_id
    replays = _count(headers.get(REPLAYS))
    if replays:
        event_id = child(event_id, "p", replays)
    if attempt > 1:
        event_id = child(event_id, "a", attempt)
    if returns:
        event_id = child(event_id, "r", returns)
    # A client's own event_id with a parent: the id cannot name its root, the stored row does.
    root = root_of(parent) if parent and SEP not in request_id else root_of(request_id)
    return Lineage(
        request_id=request_id,
        event_id=event_id,
        parent=_parent(event_id, request_id, parent),
        root=root,
        trace_id=trace_id_of(headers.get(TRACEPARENT)) or "",
    )


def _parent(event_id: str, request_id: str, client_parent: str | None) -> str | None:
    if event_id != request_id:
        return event_id.rpartition(SEP)[0]
    if SEP in request_id and client_parent is not None:
        return request_id.rpartition(SEP)[0]
    return client_parent


def _count(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
