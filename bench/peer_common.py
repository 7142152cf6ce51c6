"""What every peer shares: the same job as BEDS's customer path, on the same DBA objects.

Each peer decodes the JSON request (orjson), checks its shape, runs ONE statement on the DBA
view or procedure (`SELECT … FROM v_customer WHERE … LIMIT n`, `CALL sp_customer_create`),
maps the columns to the external field names and encodes the reply of docs/protocol.md. There is
no template engine: this is the minimum any competent service needs for the same replies.
A create's guid comes from the message_id (uuid5, the namespace BEDS uses), so creates are
idempotent on redelivery exactly as in BEDS.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

GUID_NAMESPACE = uuid.UUID("6f1c7a52-3f0e-4a8e-9d59-2b1f4b6c9e10")  # = core/validation.py
FIELDS = ("guid", "name", "email", "created", "updated")
COLUMNS = "cst_guid, cst_name, cst_email, cst_created, cst_updated"
QUERYABLE = {"guid": "cst_guid", "name": "cst_name", "email": "cst_email"}
CREATE_SQL = "CALL sp_customer_create(%s, %s, %s)"
MAX_FETCH = 100
INIT_COMMAND = "SET time_zone = '+00:00'"
_ENVELOPE = {"template", "op", "data", "query", "limit", "event_id", "parent_event_id", "v"}


class Refused(Exception):
    """A request answered with an error reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement to run, and how to shape its rows into the reply's `data`."""

    op: str
    sql: str
    args: tuple[Any, ...]
    by_guid: bool = False


class Ids:
    """Event ids in the BEDS format: `<origin>:<µs hex>-<tag>-<counter>`."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.tag = os.urandom(4).hex()
        self.counter = itertools.count(1)

    def new(self) -> str:
        return f"{self.origin}:{time.time_ns() // 1000:x}-{self.tag}-{next(self.counter):06x}"


def decode(body: bytes) -> dict[str, Any]:
    """The request object, or Refused(malformed_request)."""
    try:
        req = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused("malformed_request", f"body is not JSON: {exc}") from None
    if not isinstance(req, dict) or "template" not in req or "op" not in req:
        raise Refused("malformed_request", "body must be an object with template and op")
    unknown = set(req) - _ENVELOPE
    if unknown:
        raise Refused("malformed_request", f"unknown keys {sorted(unknown)}")
    return req


def plan(req: dict[str, Any], message_id: str | None) -> Plan:
    """The statement for a decoded request, or Refused."""
    if req["template"] != "customer":
        raise Refused("unknown_template", f"unknown template {req['template']!r}")
    op = req["op"]
    if op == "fetch":
        query = req.get("query") or {}
        if not isinstance(query, dict) or set(query) - set(QUERYABLE):
            raise Refused("validation_failed", "query may use guid, name, email")
        limit = min(int(req.get("limit") or MAX_FETCH), MAX_FETCH)
        where = " AND ".join(f"{QUERYABLE[k]} = %s" for k in query) or "1=1"
        sql = f"SELECT {COLUMNS} FROM v_customer WHERE {where} LIMIT %s"
        return Plan("fetch", sql, (*query.values(), limit), by_guid="guid" in query)
    if op == "create":
        data = req.get("data") or {}
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name or set(data) - {"name", "email"}:
            raise Refused("validation_failed", "data.name is required; writable: name, email")
        key = message_id or req.get("event_id")
        guid = uuid.uuid5(GUID_NAMESPACE, f"customer\x00{key}").hex if key else uuid.uuid4().hex
        return Plan("create", CREATE_SQL, (guid, name, data.get("email")))
    raise Refused("unknown_op", f"op {op!r} is not served by this peer")


def record(row: tuple[Any, ...]) -> dict[str, Any]:
    """A v_customer row as the external record; date-times as ISO text (UTC, no offset)."""
    return {
        name: value.isoformat() if isinstance(value, datetime | date) else value
        for name, value in zip(FIELDS, row, strict=True)
    }


def shape(p: Plan, rows: list[tuple[Any, ...]]) -> Any:
    """The reply's `data` for the rows a plan returned, or Refused."""
    if p.op == "create":
        if not rows:
            raise Refused("internal_error", "sp_customer_create returned no row")
        return record(rows[0])
    if not rows and p.by_guid:
        raise Refused("not_found", "customer not found")
    return [record(r) for r in rows]


def ok_reply(req: dict[str, Any] | None, ids: Ids, data: Any) -> bytes:
    req = req or {}
    return orjson.dumps(
        {
            "status": "ok",
            "event_id": req.get("event_id") or ids.new(),
            "parent_event_id": req.get("parent_event_id"),
            "data": data,
        }
    )


def error_reply(req: dict[str, Any] | None, ids: Ids, code: str, message: str) -> bytes:
    req = req or {}
    return orjson.dumps(
        {
            "status": "error",
            "event_id": req.get("event_id") or ids.new(),
            "parent_event_id": req.get("parent_event_id"),
            "error": {"code": code, "message": message},
        }
    )


def peer_options(
    description: str, exchange: str, argv: list[str] | None = None, *, workers: str = "--prefetch"
) -> argparse.Namespace:
    """The command line every peer takes; `workers` names its concurrency option."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    ap.add_argument("--exchange", default=exchange)
    ap.add_argument("--keys", default="appServer.rBroker,appServer.wBroker")
    ap.add_argument(workers, type=int, default=128)
    ap.add_argument("--pool", type=int, default=10)
    ap.add_argument("--db", default="beds_bench")
    if workers == "--prefetch":  # the asyncio peers
        ap.add_argument("--no-uvloop", action="store_true")
    return ap.parse_args(argv)
