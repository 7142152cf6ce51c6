"""Events on the wire: compact lists, cheap to build on the request path, expanded at the store.

A message of AMQP type `beds.events` carries `{"v": 1, "events": [[...], ...]}`, each event a
list of the values of `FIELDS` in that order (times as µs since the epoch). The last value is
the delivery's steps, `[[segment, started_us, ended_us, status, code, detail], ...]` for the
segments of `STEPS`: a request's batch hop, database call, retry, parking and reply travel
inside its one event and are stored as columns of its one row (the store's read view shows
each as its own event). The logs brokers turn each event into a record of the logger's write
template (`rows_of`), with its times as UTC date-times.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson

EVENTS_TYPE = "beds.events"  # AMQP `type` of a message carrying a batch of events
WIRE_VERSION = 1

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
KINDS = frozenset(Kind.__args__)  # type: ignore[attr-defined]

FIELDS = (
    "event_id", "parent", "root", "kind", "node", "role", "broker", "instance", "template",
    "op", "status", "code", "attempt", "started_us", "ended_us", "trace_id", "message_id",
    "detail", "steps",
)  # fmt: skip
# The steps a delivery may carry, by the segment of their event id (events/ids.py).
STEPS = {"b": 200, "c": 400, "s": 200, "d": 400, "y": 200}  # segment: longest detail stored
Step = list[Any]  # [segment, started_us, ended_us, status, code, detail]
_TEXT_LIMITS = {
    "event_id": 160, "parent": 160, "root": 160, "kind": 16, "node": 64, "role": 32,
    "broker": 64, "template": 64, "op": 32, "status": 16, "code": 32, "trace_id": 32,
    "message_id": 255, "detail": 4000,
}  # fmt: skip
_INTS = ("instance", "attempt", "started_us", "ended_us")


def now_us() -> int:
    """Wall-clock time in microseconds since the epoch (comparable across processes)."""
    return time.time_ns() // 1000


def event(
    event_id: str,
    parent: str | None,
    root: str,
    kind: Kind,
    node: str,
    role: str,
    broker: str,
    instance: int | None,
    template: str,
    op: str,
    status: str,
    code: str,
    attempt: int,
    started_us: int,
    ended_us: int,
    trace_id: str = "",
    message_id: str = "",
    detail: str = "",
    steps: list[Step] | None = None,
) -> list[Any]:
    """One event in wire order (see FIELDS); the detail is cut to what the store keeps."""
    return [
        event_id, parent, root, kind, node, role, broker, instance, template, op, status,
        code, attempt, started_us, ended_us, trace_id, message_id, detail[:4000], steps or [],
    ]  # fmt: skip


def encode(events: list[list[Any]]) -> bytes:
    """The body of one `beds.events` message."""
    return orjson.dumps({"v": WIRE_VERSION, "events": events})


def rows_of(body: bytes) -> list[dict[str, Any]]:
    """The records of a `beds.events` body, keyed by the logger template's field names.

    Raises ValueError naming the first problem: this input comes from BEDS processes, so a bad
    one is a bug to park and look at, never to guess around.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("v") != WIRE_VERSION:
        raise ValueError(f'not a version-{WIRE_VERSION} batch: {{"v": 1, "events": [...]}}')
    items = doc.get("events")
    if not isinstance(items, list):
        raise ValueError("events: expected a list")
    return [_row(n, item) for n, item in enumerate(items)]


def _row(n: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, list) or len(item) != len(FIELDS):
        raise ValueError(f"events[{n}]: expected a list of {len(FIELDS)} values ({FIELDS})")
    row = dict(zip(FIELDS, item, strict=True))
    for key, limit in _TEXT_LIMITS.items():
        value = row[key]
        if value is None and key == "parent":
            continue
        if not isinstance(value, str) or len(value) > limit:
            raise ValueError(f"events[{n}].{key}: expected text of at most {limit} characters")
    for key in _INTS:
        value = row[key]
        if not (value is None and key == "instance") and (
            not isinstance(value, int) or isinstance(value, bool)
        ):
            raise ValueError(f"events[{n}].{key}: expected an integer")
    if row["kind"] not in KINDS:
        raise ValueError(f"events[{n}].kind: {row['kind']!r} is not one of {sorted(KINDS)}")
    started, ended = row.pop("started_us"), row.pop("ended_us")
    row["started"] = _utc(started)
    row["ended"] = _utc(ended)
    row["duration_us"] = max(0, ended - started)
    steps = row.pop("steps")
    if not isinstance(steps, list):
        raise ValueError(f"events[{n}].steps: expected a list")
    for step in steps:
        _step(n, step, row)
    return row


def _step(n: int, step: Any, row: dict[str, Any]) -> None:
    """One step of a delivery into its columns: `<segment>_started`, `_ended`, `_detail`."""
    where = f"events[{n}].steps"
    if not isinstance(step, list) or len(step) != 6:
        raise ValueError(
            f"{where}: each step is [segment, started_us, ended_us, status, code, detail]"
        )
    segment, started, ended, status, code, detail = step
    if segment not in STEPS or f"{segment}_started" in row:
        raise ValueError(f"{where}: {segment!r} is not one of {sorted(STEPS)} (once each)")
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in (started, ended)):
        raise ValueError(f"{where}.{segment}: times are integers (µs since the epoch)")
    if not all(isinstance(v, str) for v in (status, code, detail)):
        raise ValueError(f"{where}.{segment}: status, code and detail are text")
    row[f"{segment}_started"] = _utc(started)
    row[f"{segment}_ended"] = _utc(ended)
    row[f"{segment}_detail"] = detail[: STEPS[segment]]
    if segment == "c":  # the database call has its own outcome
        row["c_status"], row["c_code"] = status[:16], code[:32]


def _utc(us: int) -> str:
    """µs since the epoch as naive UTC text with microseconds (`2026-12-02 15:00:00.123456`)."""
    seconds, micros = divmod(us, 1_000_000)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(seconds))}.{micros:06d}"
