"""The steps of a request as events, stamped with where they ran (node, role, broker, instance)."""

from __future__ import annotations

from dataclasses import dataclass

from beds_actors.core.namaste import Call, Outcome
from beds_actors.events.ids import child
from beds_actors.events.lineage import Lineage
from beds_actors.events.model import Kind, event
from beds_actors.events.recorder import EventRecorder


@dataclass(frozen=True, slots=True)
class Where:
    """The process an event happened in."""

    node: str
    role: str
    broker: str
    instance: int | None = None


class Tracer:
    """Turns the steps of one broker's requests into events for its recorder.

    This runs on the request path, so an event is a flat list of values (model.event), with
    times as integers: formatting happens at the logs broker.
    """

    def __init__(self, recorder: EventRecorder, where: Where) -> None:
        self.recorder = recorder
        self.where = where

    @property
    def on(self) -> bool:
        """Whether events are recorded at all (`events.enabled`)."""
        return self.recorder.enabled

    def request(
        self,
        lin: Lineage,
        *,
        call: Call | None,
        attempt: int,
        message_id: str | None,
        started_us: int,
        ended_us: int,
        status: str,
        code: str = "",
        detail: str = "",
    ) -> None:
        """One delivery of a request, from receipt to its end (answered, retried, parked)."""
        self._emit(
            lin, lin.event_id, lin.parent, "request", call, attempt, started_us, ended_us,
            status, code, detail, message_id or "",
        )  # fmt: skip

    def step(
        self,
        lin: Lineage,
        kind: Kind,
        segment: str,
        *,
        call: Call | None,
        attempt: int,
        started_us: int,
        ended_us: int,
        under: str | None = None,
        status: str = "ok",
        code: str = "",
        detail: str = "",
    ) -> str:
        """A step under this delivery (or under `under`); returns the step's event id."""
        parent = under or lin.event_id
        event_id = child(parent, segment)
        self._emit(
            lin, event_id, parent, kind, call, attempt, started_us, ended_us, status, code, detail
        )
        return event_id

    def db_call(self, lin: Lineage, batch_id: str, call: Call, attempt: int, out: Outcome) -> None:
        """The DBA object the adapter called for this request, as timed by the adapter."""
        rows = len(out.data) if isinstance(out.data, list) else int(out.data is not None)
        shared = f", shared by {out.shared} requests" if out.shared > 1 else ""
        self.step(
            lin,
            "db_call",
            "c",
            call=call,
            attempt=attempt,
            started_us=out.started_us,
            ended_us=out.ended_us,
            under=batch_id,
            status="ok" if out.ok else "error",
            code=out.code or "",
            detail=f"{out.db_object or '?'}: {rows} row(s){shared}",
        )

    def _emit(
        self,
        lin: Lineage,
        event_id: str,
        parent: str | None,
        kind: Kind,
        call: Call | None,
        attempt: int,
        started_us: int,
        ended_us: int,
        status: str,
        code: str,
        detail: str,
        message_id: str = "",
    ) -> None:
        w = self.where
        item = event(
            event_id, parent, lin.root, kind, w.node, w.role, w.broker, w.instance,
            call.template if call else "", call.op if call else "", status, code, attempt,
            started_us, ended_us, lin.trace_id, message_id, detail,
        )  # fmt: skip
        self.recorder.record(item)
