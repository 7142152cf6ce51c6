"""The steps of a request as events, stamped with where they ran (node, role, broker, instance)."""

from __future__ import annotations

from dataclasses import dataclass

from beds_actors.core.namaste import Call, Outcome
from beds_actors.events.lineage import Lineage
from beds_actors.events.model import Step, event
from beds_actors.events.recorder import EventRecorder


@dataclass(frozen=True, slots=True)
class Where:
    """The process an event happened in."""

    node: str
    role: str
    broker: str
    instance: int | None = None


class Tracer:
    """Turns one broker's deliveries into events for its recorder.

    This runs on the request path, so a delivery is one flat list of values (model.event) with
    its steps inside and times as integers: formatting happens at the logs broker.
    """

    def __init__(self, recorder: EventRecorder, where: Where) -> None:
        self.recorder = recorder
        self.where = where

    @property
    def on(self) -> bool:
        """Whether events are recorded at all (`events.enabled`)."""
        return self.recorder.enabled

    def delivery(
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
        steps: list[Step] | None = None,
    ) -> None:
        """One delivery of a request, receipt to end (answered, retried, parked, refused)."""
        if not self.recorder.enabled:
            return
        w = self.where
        item = event(
            lin.event_id, lin.parent, lin.root, "request", w.node, w.role, w.broker, w.instance,
            call.template if call else "", call.op if call else "", status, code, attempt,
            started_us, ended_us, lin.trace_id, message_id or "", detail, steps,
        )  # fmt: skip
        self.recorder.record(item)


def step(
    segment: str, started_us: int, ended_us: int, detail: str = "", out: Outcome | None = None
) -> Step:
    """One step of a delivery: `b` batch hop, `c` database call (with its outcome), `s` retry
    scheduled, `d` parked, `y` reply."""
    if out is None:
        return [segment, started_us, ended_us, "ok", "", detail]
    return [segment, started_us, ended_us, "ok" if out.ok else "error", out.code or "", detail]


def db_detail(out: Outcome) -> str:
    """What the adapter did for one call: the DBA object, rows, and who shared the call."""
    rows = len(out.data) if isinstance(out.data, list) else int(out.data is not None)
    shared = f", shared by {out.shared} requests" if out.shared > 1 else ""
    return f"{out.db_object or '?'}: {rows} row(s){shared}"
