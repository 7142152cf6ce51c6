"""What every adapter shares: a start/stop lifecycle and the batch runner across the Ray hop."""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.core.namaste import Call, Outcome, Record
from beds_actors.registry import Registry, Template
from beds_actors.registry.models import GUID

log = logging.getLogger("beds.adapter")
T = TypeVar("T")


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

    def can_fetch_by_guids(self, tpl: Template) -> bool:
        """Whether `fetch_by_guids` can serve this template (override to enable)."""
        return False

    async def fetch_by_guids(self, tpl: Template, guids: Sequence[str]) -> dict[str, Record]:
        """Records for many guids in one read, keyed by guid (absent guids are left out)."""
        raise NotImplementedError

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
    """Run a batch concurrently; each call succeeds or fails on its own, in input order.

    Fetches by guid alone on the same template are answered by one multi-key read when the
    adapter offers it (`fetch_by_guids`): one round trip instead of one per request.
    """
    outcomes: list[Outcome | None] = [None] * len(calls)
    lookups: dict[str, list[int]] = {}
    for i, call in enumerate(calls):
        tpl = registry.get(call.template)
        by_guid = call.op == "fetch" and set(call.query) == {GUID}
        if tpl is not None and by_guid and adapter.can_fetch_by_guids(tpl):
            lookups.setdefault(call.template, []).append(i)
    jobs = [
        _lookup(adapter, registry.templates[t], calls, idx, outcomes, timeout_s)
        for t, idx in lookups.items()
        if len(idx) > 1
    ]
    grouped = {i for t, idx in lookups.items() if len(idx) > 1 for i in idx}
    singles = [i for i in range(len(calls)) if i not in grouped]

    async def single(i: int) -> None:
        outcomes[i] = await _run_one(adapter, registry, calls[i], timeout_s)

    await asyncio.gather(*jobs, *(single(i) for i in singles))
    return [
        o if o is not None else Outcome(code=ErrorCode.INTERNAL_ERROR, message="lost")
        for o in outcomes
    ]


async def _lookup(
    adapter: Adapter,
    tpl: Template,
    calls: Sequence[Call],
    indexes: list[int],
    outcomes: list[Outcome | None],
    timeout_s: float,
) -> None:
    """One multi-key read for many fetch-by-guid calls; absent guids are not_found."""
    guids = [str(calls[i].query[GUID]) for i in indexes]
    found = await _guarded(tpl.name, "fetch", timeout_s, adapter.fetch_by_guids(tpl, guids))
    if isinstance(found, Outcome):  # the read failed: every call of the group shares the error
        for i in indexes:
            outcomes[i] = found
        return
    for i, guid in zip(indexes, guids, strict=True):
        record = found.get(guid)
        outcomes[i] = (
            Outcome(data=[record])
            if record is not None
            else Outcome(code=ErrorCode.NOT_FOUND, message=f"{tpl.name} {guid!r} not found")
        )


async def _run_one(adapter: Adapter, registry: Registry, call: Call, timeout_s: float) -> Outcome:
    tpl = registry.get(call.template)
    if tpl is None:
        return Outcome(
            code=ErrorCode.UNKNOWN_TEMPLATE, message=f"unknown template {call.template!r}"
        )
    result = await _guarded(call.template, call.op, timeout_s, adapter.dispatch(tpl, call))
    return result if isinstance(result, Outcome) else Outcome(data=result)


async def _guarded(template: str, op: str, timeout_s: float, work: Awaitable[T]) -> T | Outcome:
    """Await `work` within the timeout; failures become an error Outcome, never an exception."""
    try:
        async with asyncio.timeout(timeout_s):
            return await work
    except BedsError as exc:
        return Outcome(code=exc.code, message=exc.message)
    except TimeoutError:
        return Outcome(
            code=ErrorCode.TIMEOUT,
            message=f"{template}.{op} took longer than {timeout_s:g}s "
            "(config limits.request_timeout_s)",
        )
    except Exception as exc:  # one bad call must never fail its batch-mates
        log.exception("unexpected error in %s.%s", template, op)
        return Outcome(code=ErrorCode.INTERNAL_ERROR, message=f"{type(exc).__name__}: {exc}")
