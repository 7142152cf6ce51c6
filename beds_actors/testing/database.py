"""What the database is doing right now, and what it holds, read the way a DBA would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiomysql

from beds_actors.config import DbEndpoint


@asynccontextmanager
async def connection(ep: DbEndpoint) -> AsyncIterator[aiomysql.Connection]:
    """A direct connection to `ep`'s database (autocommit), as a DBA or a verifier uses it."""
    conn = await aiomysql.connect(
        host=ep.host,
        port=ep.port,
        user=ep.user,
        password=ep.password,
        db=ep.database,
        autocommit=True,
        connect_timeout=5,
    )
    try:
        yield conn
    finally:
        conn.close()


async def _query(ep: DbEndpoint, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    async with connection(ep) as conn, conn.cursor() as cur:
        await cur.execute(sql, args)
        return list(await cur.fetchall())


async def running_calls(ep: DbEndpoint, needle: str) -> int:
    """Statements of `ep`'s user running now whose text contains `needle` (e.g. a procedure).

    Lets a test wait until a request really is at the database instead of sleeping.
    """
    rows = await _query(
        ep,
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE USER = %s AND INFO LIKE %s AND ID <> CONNECTION_ID()",
        (ep.user, f"%{needle}%"),
    )
    return int(rows[0][0])


async def count_rows(ep: DbEndpoint, view: str, column: str, values: Sequence[Any]) -> list[int]:
    """For each value, how many rows of `view` have `column` equal to it (a verifier's read)."""
    if not values:
        return []
    marks = ", ".join(["%s"] * len(values))
    rows = await _query(
        ep,
        f"SELECT `{column}`, COUNT(*) FROM `{view}` WHERE `{column}` IN ({marks}) GROUP BY 1",
        list(values),
    )
    found = {key: int(n) for key, n in rows}
    return [found.get(v, 0) for v in values]
