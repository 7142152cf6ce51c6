"""MariaDB adapter: only the template's DBA-owned views and procedures, with bound parameters."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import aiomysql
import orjson
import pymysql

from beds_actors.adapters.base import Adapter
from beds_actors.config import DbEndpoint, StoreConfig
from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.core.namaste import Record
from beds_actors.registry import DbObject, Template

log = logging.getLogger("beds.adapter.mariadb")

# MariaDB error numbers that mean "the server is not there right now".
_UNAVAILABLE = {1040, 1053, 1205, 1213, 2002, 2003, 2006, 2013, 2055}
_DUPLICATE = 1062
_SIGNAL = 1644  # SIGNAL SQLSTATE '45000' raised by a DBA procedure: a business-rule refusal
_DATA_ERRORS = {1048, 1264, 1265, 1292, 1366, 1406}
_MISSING_OBJECT = {1146, 1305, 1318, 1054}
_IN_CHUNK = 500  # keys per multi-key read
# Naive UTC date-time text with microseconds, as MariaDB reads it: passed through unchanged.
_NAIVE_UTC = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")


def _q(ident: str) -> str:
    """Backtick-quote an identifier that the template registry already checked."""
    return f"`{ident}`"


class MariaDbAdapter(Adapter):
    """NamasteCore over aiomysql pools: master for writes, secondary (if any) for reads."""

    def __init__(self, store_name: str, cfg: StoreConfig) -> None:
        self.store_name = store_name
        self.cfg = cfg
        self._master: aiomysql.Pool | None = None
        self._secondary: aiomysql.Pool | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Open the pools now if the server answers; otherwise on first use."""
        try:
            await self._pool(read=False)
            if self.cfg.secondary is not None:
                await self._pool(read=True)
        except BedsError as exc:
            log.warning(
                "store %s not reachable at start, will retry on use: %s", self.store_name, exc
            )

    async def stop(self) -> None:
        """Close the pools, waiting for borrowed connections to come back."""
        for pool in (self._master, self._secondary):
            if pool is not None:
                pool.close()
                await pool.wait_closed()
        self._master = self._secondary = None

    async def ping(self) -> None:
        """Run the trivial `SELECT 1` health probe (no data access)."""
        await self._execute("SELECT 1", (), read=False)

    async def create(self, tpl: Template, values: Mapping[str, Any]) -> Record:
        rows = await self._call(tpl, "create", values)
        if not rows:
            raise BedsError(
                ErrorCode.INTERNAL_ERROR,
                f"{tpl.objects['create'].name} returned no row; the DBA contract says create "
                "returns the new record (see stores/mariadb)",
            )
        return rows[0]

    async def fetch(self, tpl: Template, query: Mapping[str, Any], limit: int) -> list[Record]:
        obj = self._object(tpl, "fetch")
        if obj.procedure is not None:
            return (await self._call(tpl, "fetch", query, read=True))[:limit]
        columns = ", ".join(_q(f.column) for f in tpl.fields.values())
        where = " AND ".join(f"{_q(tpl.fields[k].column)} = %s" for k in query) or "1=1"
        sql = f"SELECT {columns} FROM {_q(obj.name)} WHERE {where} LIMIT %s"
        args = [*(_to_db(tpl, k, v) for k, v in query.items()), limit]
        return [_record(tpl, row) for row in await self._execute(sql, args, read=True)]

    def can_fetch_by_guids(self, tpl: Template) -> bool:
        """Multi-key reads need a read view (a procedure takes one set of arguments)."""
        obj = tpl.objects.get("fetch")
        return obj is not None and obj.view is not None

    async def fetch_by_guids(self, tpl: Template, guids: Sequence[str]) -> dict[str, Record]:
        """`SELECT … FROM <view> WHERE <guid column> IN (…)`, bound, in chunks."""
        view = self._object(tpl, "fetch").name
        columns = ", ".join(_q(f.column) for f in tpl.fields.values())
        found: dict[str, Record] = {}
        unique = list(dict.fromkeys(guids))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            sql = f"SELECT {columns} FROM {_q(view)} WHERE {_q(tpl.guid_column)} IN ({marks})"
            for row in await self._execute(sql, chunk, read=True):
                record = _record(tpl, row)
                found[str(record["guid"])] = record
        return found

    def can_create_many(self, tpl: Template) -> bool:
        """The template names a DBA bulk-create procedure."""
        return "create_many" in tpl.objects

    async def create_many(
        self, tpl: Template, rows: Sequence[Mapping[str, Any]]
    ) -> dict[str, Record]:
        """`CALL <create_many>(<JSON rows keyed by the create params>)`, bound."""
        params = self._object(tpl, "create").params
        payload = orjson.dumps(
            [{p: _to_json(tpl, p, row.get(p)) for p in params} for row in rows]
        ).decode()
        obj = self._object(tpl, "create_many")
        found: dict[str, Record] = {}
        for row in await self._execute(f"CALL {_q(obj.name)}(%s)", [payload], read=False):
            record = _record(tpl, row)
            found[str(record["guid"])] = record
        return found

    async def purge(self, tpl: Template, older_than_days: float) -> int:
        """`CALL <purge>(days)`: the DBA's retention procedure returns one row, the count."""
        obj = self._object(tpl, "purge")
        sql = f"CALL {_q(obj.name)}(%s)"
        rows = await self._execute(sql, [older_than_days], read=False, raw=True)
        return int(next(iter(rows[0].values()))) if rows else 0

    async def update(self, tpl: Template, guid: str, values: Mapping[str, Any]) -> Record:
        rows = await self._call(tpl, "update", {"guid": guid, **values})
        if not rows:
            raise BedsError(ErrorCode.NOT_FOUND, f"{tpl.name} {guid!r} not found")
        return rows[0]

    async def delete(self, tpl: Template, guid: str) -> Record:
        rows = await self._execute(
            self._call_sql(self._object(tpl, "delete")), [guid], read=False, raw=True
        )
        affected = int(next(iter(rows[0].values()))) if rows else 0
        if affected == 0:
            raise BedsError(ErrorCode.NOT_FOUND, f"{tpl.name} {guid!r} not found")
        return {"guid": guid, "deleted": True}

    # --- helpers -----------------------------------------------------------------------

    def _object(self, tpl: Template, op: str) -> DbObject:
        obj = tpl.objects.get(op)  # type: ignore[call-overload]
        if obj is None:
            raise BedsError(ErrorCode.UNKNOWN_OP, f"template {tpl.name!r} does not support {op!r}")
        return obj

    @staticmethod
    def _call_sql(obj: DbObject) -> str:
        marks = ", ".join(["%s"] * len(obj.params))
        return f"CALL {_q(obj.name)}({marks})"

    async def _call(
        self, tpl: Template, op: str, values: Mapping[str, Any], *, read: bool = False
    ) -> list[Record]:
        """CALL the op's procedure with its declared params; absent optional values go as NULL."""
        obj = self._object(tpl, op)
        args = [_to_db(tpl, p, values.get(p)) for p in obj.params]
        rows = await self._execute(self._call_sql(obj), args, read=read, raw=True)
        return [_record(tpl, row) for row in rows]

    async def _execute(
        self, sql: str, args: Sequence[Any], *, read: bool, raw: bool = False
    ) -> list[dict[str, Any]]:
        pool = await self._pool(read=read)
        endpoint = self._endpoint(read)
        try:
            async with pool.acquire() as conn:
                try:
                    async with conn.cursor(aiomysql.DictCursor) as cur:
                        await cur.execute(sql, args)
                        rows = list(await cur.fetchall())
                        # A CALL returns extra result sets; drain them or the connection desyncs.
                        while await cur.nextset():
                            pass
                        return rows
                except asyncio.CancelledError:
                    conn.close()  # a half-read reply would poison the next borrower
                    raise
        except pymysql.err.MySQLError as exc:
            raise _translate(exc, endpoint, self.store_name) from None

    def _endpoint(self, read: bool) -> DbEndpoint:
        return self.cfg.secondary if read and self.cfg.secondary else self.cfg.master

    async def _pool(self, *, read: bool) -> aiomysql.Pool:
        use_secondary = read and self.cfg.secondary is not None
        pool = self._secondary if use_secondary else self._master
        if pool is not None:
            return pool
        async with self._lock:
            pool = self._secondary if use_secondary else self._master
            if pool is None:
                pool = await self._open(self._endpoint(read))
                if use_secondary:
                    self._secondary = pool
                else:
                    self._master = pool
            return pool

    async def _open(self, ep: DbEndpoint) -> aiomysql.Pool:
        try:
            return await aiomysql.create_pool(
                host=ep.host,
                port=ep.port,
                user=ep.user,
                password=ep.password,
                db=ep.database,
                minsize=1,
                maxsize=self.cfg.pool_size,
                autocommit=True,
                connect_timeout=self.cfg.connect_timeout_s,
                charset="utf8mb4",
                pool_recycle=3600,
                # Client date-times arrive as UTC; make server-side defaults UTC as well.
                init_command="SET time_zone = '+00:00'",
            )
        except (pymysql.err.MySQLError, OSError) as exc:
            raise BedsError(
                ErrorCode.BACKEND_UNAVAILABLE,
                f"store {self.store_name!r}: cannot connect to MariaDB at {ep.where}: {exc}",
            ) from None


def _translate(exc: pymysql.err.MySQLError, ep: DbEndpoint, store: str) -> BedsError:
    """Turn a driver error into a contract error code with a message the caller can act on."""
    errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    text = exc.args[1] if len(exc.args) > 1 else str(exc)
    if errno in _UNAVAILABLE or isinstance(exc, pymysql.err.InterfaceError):
        return BedsError(
            ErrorCode.BACKEND_UNAVAILABLE, f"store {store!r} at {ep.where} unavailable: {text}"
        )
    if errno == _DUPLICATE:
        return BedsError(ErrorCode.CONFLICT, f"duplicate value: {text}")
    if errno == _SIGNAL or errno in _DATA_ERRORS:
        return BedsError(ErrorCode.VALIDATION_FAILED, text)
    if errno in _MISSING_OBJECT:
        return BedsError(
            ErrorCode.INTERNAL_ERROR,
            f"store {store!r} at {ep.where}: {text} — the DBA objects are missing or out of date; "
            "apply them with `beds schema apply`",
        )
    log.error("MariaDB error %s on store %s: %s", errno, store, text)
    return BedsError(ErrorCode.INTERNAL_ERROR, f"database error {errno} on store {store!r}")


def _to_db(tpl: Template, field: str, value: Any) -> Any:
    """Convert a validated external value for the driver; date-times are stored as naive UTC."""
    if value is None or tpl.fields[field].type != "datetime":
        return value
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _to_json(tpl: Template, field: str, value: Any) -> Any:
    """A value as the bulk procedure's JSON row carries it (date-times as naive UTC text)."""
    if isinstance(value, str) and _NAIVE_UTC.match(value):
        return value  # already the form the procedure takes (events arrive like this)
    converted = _to_db(tpl, field, value)
    return converted.isoformat(sep=" ") if isinstance(converted, datetime) else converted


def _record(tpl: Template, row: Mapping[str, Any]) -> Record:
    """Map internal columns to external field names; columns not in the template stay inside."""
    out: Record = {}
    for fld in tpl.fields.values():
        if fld.column not in row:
            continue
        value = row[fld.column]
        if value is None:
            out[fld.name] = None
        elif fld.type == "bool":
            out[fld.name] = bool(value)
        elif isinstance(value, Decimal):
            out[fld.name] = float(value)
        elif isinstance(value, datetime | date):
            out[fld.name] = value.isoformat()
        elif isinstance(value, bytes | bytearray):
            out[fld.name] = value.decode("utf-8", "replace")
        else:
            out[fld.name] = value
    return out
