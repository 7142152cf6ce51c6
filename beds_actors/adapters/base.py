"""What every adapter shares: a start/stop lifecycle and the batch runner across the Ray hop."""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.core.namaste import Call, Outcome, Record
from beds_actors.registry import Registry, Template
from beds_actors.registry.models import GUID

log = logging.getLogger("beds.adapter")


class Adapter(abc.ABC):
    """Base of every adapter: lifecycle plus the four NamasteCore operations."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Open connections; must not fail just because the database is down right now."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Close every connection."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Round-trip to the database; raises BedsError(backend_unavailable) when it is down."""

    @abc.abstractmethod
    async def create(self, tpl: Template, values: Mapping[str, Any]) -> Record: ...

    @abc.abstractmethod
    async def fetch(self, tpl: Template, query: Mapping[str, Any], limit: int) -> list[Record]: ...

    @abc.abstractmethod
    async def update(self, tpl: Template, guid: str, values: Mapping[str, Any]) -> Record: ...

    @abc.abstractmethod
    async def delete(self, tpl: Template, guid: str) -> Record: ...

    async def dispatch(self, tpl: Template, call: Call) -> Any:
        """Route one call to its NamasteCore operation."""
        if call.op == "create":
            return await self.create(tpl, call.values)
        if call.op == "fetch":
            records = await self.fetch(tpl, call.query, call.limit)
            if not records and GUID in call.query:
                # Addressing one record by its key is a lookup: absent means not_found.
                raise BedsError(ErrorCode.NOT_FOUND, f"{tpl.name} {call.query[GUID]!r} not found")
            return records
        if call.op == "update":
            return await self.update(tpl, call.query[GUID], call.values)
        if call.op == "delete":
            return await self.delete(tpl, call.query[GUID])
        raise BedsError(ErrorCode.UNKNOWN_OP, f"unknown op {call.op!r}")


async def run_batch(
    adapter: Adapter, registry: Registry, calls: Sequence[Call], timeout_s: float
) -> list[Outcome]:
    """Run a batch concurrently; each call succeeds or fails on its own, in input order."""
    return list(await asyncio.gather(*(_run_one(adapter, registry, c, timeout_s) for c in calls)))


async def _run_one(adapter: Adapter, registry: Registry, call: Call, timeout_s: float) -> Outcome:
    tpl = registry.get(call.template)
    if tpl is None:
        return Outcome(
            code=ErrorCode.UNKNOWN_TEMPLATE, message=f"unknown template {call.template!r}"
        )
    try:
        async with asyncio.timeout(timeout_s):
            return Outcome(data=await adapter.dispatch(tpl, call))
    except BedsError as exc:
        return Outcome(code=exc.code, message=exc.message)
    except TimeoutError:
        return Outcome(
            code=ErrorCode.TIMEOUT,
            message=f"{call.template}.{call.op} took longer than {timeout_s:g}s "
            "(config limits.request_timeout_s)",
        )
    except Exception as exc:  # one bad call must never fail its batch-mates
        log.exception("unexpected error in %s.%s", call.template, call.op)
        return Outcome(code=ErrorCode.INTERNAL_ERROR, message=f"{type(exc).__name__}: {exc}")
