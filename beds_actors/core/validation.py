"""Check a request against its template and turn it into a `Call`; one error lists all problems."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.core.namaste import Call
from beds_actors.core.payload import Request
from beds_actors.registry import Field, Template
from beds_actors.registry.models import GUID

# Namespace of guids derived from a request's idempotency key (uuid5).
GUID_NAMESPACE = uuid.UUID("6f1c7a52-3f0e-4a8e-9d59-2b1f4b6c9e10")


def new_guid(template: str, idempotency_key: str | None) -> str:
    """The guid a create assigns: derived from the key if any, so a redelivery reuses it."""
    if idempotency_key:
        return uuid.uuid5(GUID_NAMESPACE, f"{template}\x00{idempotency_key}").hex
    return uuid.uuid4().hex


def build_call(
    tpl: Template, req: Request, max_rows: int, idempotency_key: str | None = None
) -> Call:
    """Validate `req` for `tpl` and return the adapter call; raise validation_failed otherwise.

    `idempotency_key` (the AMQP message_id, else the client's event_id) fixes a create's guid,
    so the same message delivered twice creates one record (the DBA procedure is idempotent).
    """
    problems: list[str] = []
    if req.limit is not None and req.op != "fetch":
        problems.append("limit: only fetch takes a limit")
    if req.op == "create":
        values = _check_values(tpl, req.data, problems, creating=True)
        _forbid(req.query, "query", "create takes no query", problems)
        _raise(problems, tpl)
        return Call(tpl.name, "create", {GUID: new_guid(tpl.name, idempotency_key), **values})
    if req.op == "fetch":
        query = _check_query(tpl, req.query, problems)
        _forbid(req.data, "data", "fetch takes no data", problems)
        limit = min(req.limit or tpl.max_fetch, tpl.max_fetch, max_rows)
        _raise(problems, tpl)
        return Call(tpl.name, "fetch", query=query, limit=limit)
    if req.op not in ("update", "delete"):
        raise BedsError(ErrorCode.UNKNOWN_OP, f"unknown op {req.op!r}")
    # update and delete address exactly one record by guid
    guid = _check_guid(req.query, problems)
    if req.op == "update":
        values = _check_values(tpl, req.data, problems, creating=False)
        if not req.data:
            problems.append("data: give at least one field to change")
    else:
        values = {}
        _forbid(req.data, "data", "delete takes no data", problems)
    _raise(problems, tpl)
    return Call(tpl.name, req.op, values, {GUID: guid})


def _raise(problems: list[str], tpl: Template) -> None:
    if problems:
        raise BedsError(
            ErrorCode.VALIDATION_FAILED, f"template {tpl.name!r}: " + "; ".join(problems)
        )


def _forbid(value: Mapping[str, Any], key: str, why: str, problems: list[str]) -> None:
    if value:
        problems.append(f"{key}: {why}")


def _check_guid(query: Mapping[str, Any], problems: list[str]) -> str:
    extra = sorted(set(query) - {GUID})
    if extra:
        problems.append(f"query: only 'guid' addresses a record here (unexpected: {extra})")
    guid = query.get(GUID)
    if not isinstance(guid, str) or not guid:
        problems.append("query.guid: required, a non-empty string")
        return ""
    if len(guid) > 64:
        problems.append("query.guid: too long (max 64)")
    return guid


def _check_values(
    tpl: Template, data: Mapping[str, Any], problems: list[str], *, creating: bool
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in data.items():
        fld = tpl.fields.get(name)
        if fld is None:
            problems.append(f"data.{_show(name)}: unknown field (known: {_known(tpl)})")
        elif not fld.writable:
            problems.append(f"data.{name}: read-only field")
        else:
            values[name] = _check_value(
                fld, raw, f"data.{name}", problems, allow_null=not fld.required
            )
    if creating:
        for fld in tpl.fields.values():
            if fld.required and fld.writable and data.get(fld.name) is None:
                problems.append(f"data.{fld.name}: required")
    return values


def _check_query(tpl: Template, query: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in query.items():
        fld = tpl.fields.get(name)
        if fld is None or not fld.queryable:
            queryable = sorted(f.name for f in tpl.fields.values() if f.queryable)
            problems.append(f"query.{_show(name)}: not a queryable field (queryable: {queryable})")
        else:
            out[name] = _check_value(fld, raw, f"query.{name}", problems, allow_null=False)
    return out


def _check_value(fld: Field, raw: Any, where: str, problems: list[str], *, allow_null: bool) -> Any:
    if raw is None:
        if not allow_null:
            problems.append(f"{where}: must not be null")
        return None
    if fld.type == "string":
        if not isinstance(raw, str):
            problems.append(f"{where}: expected a string, got {type(raw).__name__}")
        elif fld.max_length is not None and len(raw) > fld.max_length:
            problems.append(f"{where}: too long ({len(raw)} > max_length {fld.max_length})")
    elif fld.type == "int":
        if not isinstance(raw, int) or isinstance(raw, bool):
            problems.append(f"{where}: expected an integer, got {type(raw).__name__}")
        elif not -(2**63) <= raw < 2**63:
            problems.append(f"{where}: integer out of the 64-bit range")
    elif fld.type == "float":
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            problems.append(f"{where}: expected a number, got {type(raw).__name__}")
        elif not math.isfinite(raw):
            problems.append(f"{where}: must be a finite number")
    elif fld.type == "bool":
        if not isinstance(raw, bool):
            problems.append(f"{where}: expected true or false, got {type(raw).__name__}")
    elif fld.type == "datetime":
        try:
            datetime.fromisoformat(raw)
        except (TypeError, ValueError):
            problems.append(f"{where}: expected an ISO-8601 date-time string")
    return raw


def _known(tpl: Template) -> str:
    return ", ".join(f.name for f in tpl.writable_fields())


def _show(name: str) -> str:
    return name if len(name) <= 64 else name[:61] + "..."
