"""System events (IPL steps, respawns, scale, swap, shutdown, admin commands, warnings) and the
one IPL record each start writes: what ran, with which config and templates, never a secret."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from aio_pika.abc import AbstractRobustConnection

from beds_actors import __version__
from beds_actors.config import BedsConfig
from beds_actors.events.ids import child, new_root
from beds_actors.events.model import event, now_us
from beds_actors.events.recorder import EventRecorder
from beds_actors.registry import Registry

log = logging.getLogger("beds.system")
SECRET_KEYS = frozenset({"password", "token", "token_hash"})


def redacted(value: Any) -> Any:
    """A config dump with every secret value replaced by "***"."""
    if isinstance(value, dict):
        return {k: "***" if k in SECRET_KEYS and v else redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def fingerprint(data: Any) -> str:
    """A short, stable hash of JSON-able data (keys sorted)."""
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


class SystemLog:
    """System events of one node process; `emit` never blocks and never raises."""

    def __init__(self, cfg: BedsConfig) -> None:
        self.cfg = cfg
        self.recorder = EventRecorder(cfg, cfg.events.system_route)

    async def start(self, connection: AbstractRobustConnection) -> None:
        """Publish in the background on `connection` (events emitted before are kept)."""
        await self.recorder.start(connection)

    async def stop(self) -> None:
        """Publish what is left, then stop."""
        await self.recorder.stop()

    def emit(
        self,
        what: str,
        detail: str = "",
        *,
        status: str = "ok",
        code: str = "",
        role: str = "",
        broker: str = "",
        started_us: int | None = None,
        event_id: str | None = None,
        parent: str | None = None,
    ) -> str:
        """Record one system event (logged too); returns its event id."""
        log.log(
            logging.INFO if status == "ok" else logging.WARNING, "system event: %s %s", what, detail
        )
        if event_id is None:
            event_id = child(parent, "y") if parent else new_root()  # y: how it ended
        ended = now_us()
        item = event(
            event_id, parent, event_id.split("/", 1)[0], "system", self.cfg.node.name, role,
            broker, None, "", what[:32], status, code, 1, started_us or ended, ended,
            detail=detail,
        )  # fmt: skip
        self.recorder.record(item)
        return event_id


@dataclass
class IplRecord:
    """The steps of one start, in order, with their durations and results."""

    root: str = field(default_factory=new_root)
    started_us: int = field(default_factory=now_us)
    steps: list[dict[str, Any]] = field(default_factory=list)

    def step(self, name: str, started_us: int, ok: bool, detail: str = "") -> None:
        """Note one finished step."""
        self.steps.append(
            {
                "step": name,
                "started_us": started_us,
                "ended_us": now_us(),
                "ok": ok,
                "detail": detail,
            }
        )

    def write(self, syslog: SystemLog, registry: Registry | None, ok: bool) -> None:
        """Emit the IPL record (kind `ipl`) and one child event per step."""
        cfg = syslog.cfg
        templates = {
            name: tpl.model_dump(exclude={"source"})
            for name, tpl in (registry.templates if registry is not None else {}).items()
        }
        summary = {
            "version": __version__,
            "node": cfg.node.name,
            "roles": cfg.node.roles,
            "env": cfg.env,
            # Secrets are replaced before hashing: the fingerprint changes with the config's
            # shape and values, never reveals a password, and matches across nodes.
            "config_fingerprint": fingerprint(redacted(cfg.model_dump())),
            "amqp": f"{cfg.amqp.where}{cfg.amqp.vhost} exchange {cfg.amqp.exchange}",
            "stores": {n: f"{s.kind} {s.master.where}" for n, s in cfg.stores.items()},
            "templates": sorted(templates),
            "templates_hash": fingerprint(templates),
            "steps": [
                {
                    "step": s["step"],
                    "ms": round((s["ended_us"] - s["started_us"]) / 1000, 1),
                    "ok": s["ok"],
                }
                for s in self.steps
            ],
        }
        node = cfg.node.name
        record = event(
            self.root, None, self.root, "ipl", node, "", "", None, "", "ipl",
            "ok" if ok else "error", "", 1, self.started_us, now_us(),
            detail=orjson.dumps(summary).decode(),
        )  # fmt: skip
        syslog.recorder.record(record)
        for n, s in enumerate(self.steps, start=1):
            step = event(
                child(self.root, "i", n), self.root, self.root, "system", node, "", "", None,
                "", f"ipl {s['step']}"[:32], "ok" if s["ok"] else "error", "", 1,
                s["started_us"], s["ended_us"], detail=s["detail"],
            )  # fmt: skip
            syslog.recorder.record(step)
