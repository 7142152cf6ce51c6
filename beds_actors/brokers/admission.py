"""Admission: turn one delivery into work for a lane, or refuse it with a contract error.

Two kinds of messages reach a broker: client requests (docs/protocol.md) and, on the logs
brokers, batches of events from other BEDS processes (AMQP type `beds.events`), which become
one create call per event on the logger template.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aio_pika.abc import AbstractIncomingMessage

from beds_actors.brokers.parking import attempt_of, returns_of
from beds_actors.config import BedsConfig, BrokerConfig
from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.core.namaste import Call
from beds_actors.core.payload import Request
from beds_actors.core.validation import GUID_NAMESPACE, build_call
from beds_actors.events import lineage
from beds_actors.events.model import rows_of
from beds_actors.registry import Registry, Template
from beds_actors.registry.models import GUID

OPS = ("create", "fetch", "update", "delete")
LOGGER_TEMPLATE = "mst_logger_in"  # the logger store's write side


@dataclass(slots=True)
class Pending:
    """A delivery admitted for its lane: one call for a request, one per event for events."""

    message: AbstractIncomingMessage
    calls: list[Call]
    received_us: int
    attempt: int
    lineage: lineage.Lineage | None = None  # None for event batches: they are not traced
    client_parent: str | None = None

    @property
    def is_events(self) -> bool:
        """True for a batch of events bound for the logger store."""
        return self.lineage is None


def delivery_lineage(message: AbstractIncomingMessage, req: Request | None) -> lineage.Lineage:
    """The lineage of a delivery (a valid one even for a body that did not decode)."""
    try:
        return lineage.of_delivery(
            headers=dict(message.headers or {}),
            message_id=message.message_id,
            timestamp=message.timestamp,
            client_event_id=req.event_id if req else None,
            client_parent=req.parent_event_id if req else None,
            attempt=attempt_of(message),
            returns=returns_of(message),
        )
    except BedsError:  # a stamped header that is not an event id: start a fresh trace
        return lineage.of_delivery(
            headers={},
            message_id=None,
            timestamp=None,
            client_event_id=None,
            client_parent=None,
            attempt=1,
            returns=0,
        )


class Admission:
    """What one broker serves: its ops and templates (config `roles.<r>.brokers.<b>`)."""

    def __init__(self, cfg: BedsConfig, bcfg: BrokerConfig, origin: str, registry: Registry):
        self.cfg = cfg
        self.origin = origin
        self.registry = registry
        self.ops = frozenset(bcfg.ops)
        self.templates = None if bcfg.templates is None else frozenset(bcfg.templates)

    def request(
        self, message: AbstractIncomingMessage, req: Request, lin: lineage.Lineage, now_us: int
    ) -> Pending:
        """Validate a decoded request against this broker and its template."""
        tpl = self._template(req.op, req.template)
        key = message.message_id or req.event_id
        call = build_call(tpl, req, self.cfg.limits.max_fetch_rows, key)
        return Pending(
            message,
            [call],
            now_us,
            attempt_of(message),
            lineage=lin,
            client_parent=req.parent_event_id,
        )

    @property
    def takes_events(self) -> bool:
        """Whether this is a logs broker: it names the logger template and serves create."""
        return LOGGER_TEMPLATE in (self.templates or ()) and "create" in self.ops

    def events(self, message: AbstractIncomingMessage, now_us: int) -> Pending:
        """A batch of events from another BEDS process: one bulk create on the logger."""
        tpl = self._template("create", LOGGER_TEMPLATE)
        try:
            rows = rows_of(message.body)
        except ValueError as exc:
            raise BedsError(
                ErrorCode.MALFORMED_REQUEST, f"not a batch of BEDS events: {exc}"
            ) from None
        for row in rows:  # the guid derives from the event id: a resent batch is one row each
            row[GUID] = uuid.uuid5(GUID_NAMESPACE, f"{tpl.name}\x00{row['event_id']}").hex
        call = Call(tpl.name, "create_many", rows=tuple(rows))
        return Pending(message, [call], now_us, attempt_of(message))

    def _template(self, op: str, name: str) -> Template:
        if op not in OPS:
            raise BedsError(
                ErrorCode.UNKNOWN_OP, f"unknown op {op!r}; use create, fetch, update or delete"
            )
        if op not in self.ops:
            raise BedsError(
                ErrorCode.OP_NOT_SERVED,
                f"{self.origin} does not serve {op!r} (it serves {sorted(self.ops)}); "
                "publish to the broker for that op (docs/protocol.md)",
            )
        tpl = self.registry.get(name)
        if tpl is not None and tpl.internal and tpl.name not in (self.templates or ()):
            tpl = None  # not there for this broker: an internal template is served by name only
        if tpl is not None and self.templates is not None and tpl.name not in self.templates:
            raise BedsError(
                ErrorCode.UNKNOWN_TEMPLATE,
                f"{self.origin} does not serve template {tpl.name!r} "
                f"(it serves {sorted(self.templates)})",
            )
        if tpl is None:
            public = [n for n in self.registry.names() if not self.registry.templates[n].internal]
            raise BedsError(
                ErrorCode.UNKNOWN_TEMPLATE,
                f"unknown template {name!r} (known: {', '.join(public)})",
            )
        if op not in tpl.objects:
            raise BedsError(ErrorCode.UNKNOWN_OP, f"template {tpl.name!r} does not support {op!r}")
        return tpl
