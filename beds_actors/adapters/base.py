"""What every adapter shares: a start/stop lifecycle and the batch runner across the Ray hop."""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from beds_actors.core.errors import RETRYABLE, BedsError, ErrorCode
from beds_actors.core.namaste import Call, Outcome, Record
from beds_actors.registry import Registry, Template
from beds_actors.registry.models import GUID

log = logging.getLogger("beds.adapter")


def now_us() -> int:
    """Wall-clock µs since the epoch: the times of database calls in their events."""
    return time.time_ns() // 1000


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

    def can_create_many(self, tpl: Template) -> bool:
        """Whether `create_many` can serve this template (override to enable)."""
        return False

    async def create_many(
        self, tpl: Template, rows: Sequence[Mapping[str, Any]]
    ) -> dict[str, Record]:
        """Create many records in one call; the created records keyed by guid."""
        raise NotImplementedError

    async def _create_rows(self, tpl: Template, rows: Sequence[Mapping[str, Any]]) -> int:
        """Create every row (the bulk form where the store has one); how many were stored."""
        if self.can_create_many(tpl):
            stored = len(await self.create_many(tpl, rows))
        else:
            stored = len([await self.create(tpl, row) for row in rows])
        if stored != len(rows):
            raise BedsError(
                ErrorCode.INTERNAL_ERROR,
                f"{tpl.name}: the bulk create stored {stored} of {len(rows)} rows",
            )
        return stored

    async def purge(self, tpl: Template, older_than_days: float) -> int:
        """Delete records older than `older_than_days` through the template's `purge` object;
        returns how many. Stores with their own expiry (a MongoDB TTL index) return 0."""
        raise NotImplementedError

    async def dispatch(self, tpl: Template, call: Call) -> Any:
        """Route one call to its NamasteCore operation."""
        if call.op == "create":
            return await self.create(tpl, call.values)
        if call.op == "create_many":
            return await self._create_rows(tpl, call.rows)
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

    Where the adapter offers a batch form, same-template calls share one database round trip:
    fetches by guid alone (`fetch_by_guids`) and creates (`create_many`).
    """
    outcomes: list[Outcome | None] = [None] * len(calls)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, call in enumerate(calls):
        tpl = registry.get(call.template)
        if tpl is None:
            continue
        if call.op == "fetch" and set(call.query) == {GUID} and adapter.can_fetch_by_guids(tpl):
            groups.setdefault(("lookup", tpl.name), []).append(i)
        elif call.op == "create" and adapter.can_create_many(tpl):
            groups.setdefault(("create", tpl.name), []).append(i)
    jobs = []
    for (kind, _), indexes in groups.items():
        if len(indexes) > 1:
            runner = _lookup if kind == "lookup" else _create_many
            jobs.append(runner(adapter, registry, calls, indexes, outcomes, timeout_s))
    grouped = {i for indexes in groups.values() if len(indexes) > 1 for i in indexes}

    async def single(i: int) -> None:
        started = now_us()
        outcome = await _run_one(adapter, registry, calls[i], timeout_s)
        outcomes[i] = _timed(outcome, registry, calls[i], started, 1)

    await asyncio.gather(*jobs, *(single(i) for i in range(len(calls)) if i not in grouped))
    return [o or Outcome(code=ErrorCode.INTERNAL_ERROR, message="no outcome") for o in outcomes]


async def _lookup(
    adapter: Adapter,
    registry: Registry,
    calls: Sequence[Call],
    indexes: list[int],
    outcomes: list[Outcome | None],
    timeout_s: float,
) -> None:
    """One multi-key read for many fetch-by-guid calls; absent guids are not_found."""
    tpl = registry.templates[calls[indexes[0]].template]
    guids = [str(calls[i].query[GUID]) for i in indexes]
    started = now_us()
    found = await _guarded(tpl.name, "fetch", timeout_s, adapter.fetch_by_guids(tpl, guids))
    for i, guid in zip(indexes, guids, strict=True):
        if isinstance(found, Outcome):  # the read failed: every call of the group shares it
            outcome = found
        elif (record := found.get(guid)) is not None:
            outcome = Outcome(data=[record])
        else:
            outcome = Outcome(code=ErrorCode.NOT_FOUND, message=f"{tpl.name} {guid!r} not found")
        outcomes[i] = _timed(outcome, registry, calls[i], started, len(indexes))


async def _create_many(
    adapter: Adapter,
    registry: Registry,
    calls: Sequence[Call],
    indexes: list[int],
    outcomes: list[Outcome | None],
    timeout_s: float,
) -> None:
    """One bulk create for many creates; if it is refused, each create runs on its own."""
    tpl = registry.templates[calls[indexes[0]].template]
    rows = [calls[i].values for i in indexes]
    started = now_us()
    made = await _guarded(tpl.name, "create", timeout_s, adapter.create_many(tpl, rows))
    if isinstance(made, Outcome):
        if made.code in RETRYABLE:  # the database is away: the whole group waits for a retry
            for i in indexes:
                outcomes[i] = _timed(made, registry, calls[i], started, len(indexes), "create_many")
            return
        # One bad row must fail alone: run them one by one to find it.
        singles = [_run_one(adapter, registry, calls[i], timeout_s) for i in indexes]
        for i, outcome in zip(indexes, await asyncio.gather(*singles), strict=True):
            outcomes[i] = _timed(outcome, registry, calls[i], started, 1)
        return
    for i in indexes:
        record = made.get(str(calls[i].values[GUID]))
        outcome = (
            Outcome(data=record)
            if record is not None
            else Outcome(
                code=ErrorCode.INTERNAL_ERROR,
                message=f"{tpl.name}: the bulk create returned no record for a created guid",
            )
        )
        outcomes[i] = _timed(outcome, registry, calls[i], started, len(indexes), "create_many")


def _timed(
    outcome: Outcome,
    registry: Registry,
    call: Call,
    started_us: int,
    shared: int,
    key: str | None = None,
) -> Outcome:
    """The outcome stamped with when its database call ran and which DBA object it called."""
    tpl = registry.get(call.template)
    obj = tpl.objects.get(key or call.op) if tpl is not None else None  # type: ignore[call-overload]
    name = obj.name if obj is not None else ""
    return replace(outcome, started_us=started_us, ended_us=now_us(), db_object=name, shared=shared)


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
