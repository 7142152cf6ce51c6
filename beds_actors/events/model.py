"""One event as it travels from any BEDS process to the logger store (docs/lineage.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EVENTS_TYPE = "beds.events"  # AMQP `type` of a message carrying a batch of events

Kind = Literal[
    "request",  # one delivery of a request: received → answered, retried, parked or refused
    "batch",  # the request's trip across the Ray hop to the adapter, with the batch size
    "db_call",  # the DBA object the adapter called for it
    "reply",  # publishing the reply and its confirm
    "retry",  # a retry scheduled with its backoff
    "dead_lettered",  # parked in the DLQ
    "system",  # IPL steps, respawns, scale, swap, shutdown, admin commands, warnings
    "ipl",  # one record per start of a node
]


def now_us() -> int:
    """Wall-clock time in microseconds since the epoch (comparable across processes)."""
    return time.time_ns() // 1000


def iso_us(us: int) -> str:
    """ISO-8601 UTC with microseconds for a `now_us()` value."""
    return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat(timespec="microseconds")


class Event(BaseModel):
    """One step. Ids follow `beds_actors.events.ids`; times are UTC, microsecond resolution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(max_length=160)
    parent: str | None = Field(default=None, max_length=160)
    root: str = Field(max_length=160)
    kind: Kind
    node: str = Field(default="", max_length=64)
    role: str = Field(default="", max_length=32)
    broker: str = Field(default="", max_length=64)
    instance: int | None = None
    template: str = Field(default="", max_length=64)
    op: str = Field(default="", max_length=32)
    status: str = Field(default="ok", max_length=16)
    code: str = Field(default="", max_length=32)
    attempt: int = 1
    started: str
    ended: str
    duration_us: int = Field(ge=0)
    trace_id: str = Field(default="", max_length=32)
    message_id: str = Field(default="", max_length=255)
    detail: str = Field(default="", max_length=4000)

    def row(self) -> dict[str, Any]:
        """The event as the logger template's create data (external field names)."""
        return self.model_dump()


def make_event(
    *,
    event_id: str,
    parent: str | None,
    root: str,
    kind: Kind,
    started_us: int,
    ended_us: int | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An event as a plain dict (what the recorder buffers; validated at the logs broker)."""
    ended = ended_us if ended_us is not None else started_us
    detail = fields.pop("detail", "")
    return {
        "event_id": event_id,
        "parent": parent,
        "root": root,
        "kind": kind,
        "started": iso_us(started_us),
        "ended": iso_us(ended),
        "duration_us": max(0, ended - started_us),
        "detail": detail[:4000] if isinstance(detail, str) else str(detail)[:4000],
        **fields,
    }
