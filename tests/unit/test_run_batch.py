"""run_batch: each call succeeds or fails on its own, results in input order."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from beds_actors.adapters.base import Adapter, run_batch
from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.core.namaste import Call, Outcome
from beds_actors.registry import Template


class FakeAdapter(Adapter):
    """A test double of the Adapter ABC; a record's `name` picks how the call behaves."""

    def __init__(self) -> None:
        self.finished: list[str] = []
        self.calls: list[tuple[Any, ...]] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ping(self) -> None: ...

    async def create(self, tpl: Template, values: Mapping[str, Any]) -> dict[str, Any]:
        name = values["name"]
        if name == "missing":
            raise BedsError(ErrorCode.NOT_FOUND, "no such record")
        if name == "crash":
            raise RuntimeError("driver exploded")
        if name == "hang":
            await asyncio.Event().wait()
        for _ in range(values.get("yields", 0)):
            await asyncio.sleep(0)
        self.finished.append(name)
        return dict(values)

    async def fetch(self, tpl: Template, query: Mapping[str, Any], limit: int) -> list[dict]:
        self.calls.append(("fetch", dict(query), limit))
        return [{"guid": "g1"}]

    async def update(self, tpl: Template, guid: str, values: Mapping[str, Any]) -> dict:
        self.calls.append(("update", guid, dict(values)))
        return {"guid": guid, **values}

    async def delete(self, tpl: Template, guid: str) -> dict:
        self.calls.append(("delete", guid))
        return {"affected": 1}


def create(name: str, **values: Any) -> Call:
    return Call("customer", "create", {"name": name, **values})


async def run(registry, calls: list[Call], timeout_s: float = 5.0) -> list[Outcome]:
    return await run_batch(FakeAdapter(), registry, calls, timeout_s)


async def test_results_come_back_in_input_order(registry):
    adapter = FakeAdapter()
    calls = [create("slow", yields=5), create("medium", yields=2), create("fast")]
    outcomes = await run_batch(adapter, registry, calls, 5.0)
    assert adapter.finished == ["fast", "medium", "slow"]
    assert [o.data["name"] for o in outcomes] == ["slow", "medium", "fast"]


async def test_empty_batch_gives_no_outcomes(registry):
    assert await run(registry, []) == []


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("missing", ErrorCode.NOT_FOUND, "no such record"),
        ("crash", ErrorCode.INTERNAL_ERROR, "RuntimeError: driver exploded"),
    ],
)
async def test_a_failing_call_fails_only_itself(registry, name, code, message):
    first, bad, last = await run(registry, [create("a"), create(name), create("b")])
    assert (bad.ok, bad.code, bad.message) == (False, code, message)
    assert (first.ok, first.data["name"], last.ok, last.data["name"]) == (True, "a", True, "b")


async def test_a_call_slower_than_the_timeout_times_out_alone(registry):
    first, hung, last = await run(registry, [create("a"), create("hang"), create("b")], 0.05)
    assert hung.code == ErrorCode.TIMEOUT
    assert "customer.create" in hung.message
    assert "limits.request_timeout_s" in hung.message
    assert first.ok and last.ok


async def test_unknown_template_is_reported_without_calling_the_adapter(registry):
    adapter = FakeAdapter()
    outcomes = await run_batch(adapter, registry, [Call("nope", "create", {"name": "x"})], 5.0)
    assert (outcomes[0].code, outcomes[0].message) == (
        ErrorCode.UNKNOWN_TEMPLATE,
        "unknown template 'nope'",
    )
    assert adapter.finished == []


async def test_unknown_op_is_reported(registry):
    (outcome,) = await run(registry, [Call("customer", "purge", query={"guid": "g1"})])
    assert outcome.code == ErrorCode.UNKNOWN_OP


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (Call("customer", "fetch", query={"name": "Ann"}, limit=7), ("fetch", {"name": "Ann"}, 7)),
        (
            Call("customer", "update", {"name": "Bo"}, {"guid": "g1"}),
            ("update", "g1", {"name": "Bo"}),
        ),
        (Call("customer", "delete", query={"guid": "g1"}), ("delete", "g1")),
    ],
)
async def test_calls_reach_the_matching_namaste_operation(registry, call, expected):
    adapter = FakeAdapter()
    (outcome,) = await run_batch(adapter, registry, [call], 5.0)
    assert outcome.ok
    assert adapter.calls == [expected]


class BulkAdapter(FakeAdapter):
    """Offers the batch forms; `bulk_error` makes the bulk create fail with that code."""

    def __init__(self, bulk_error: ErrorCode | None = None) -> None:
        super().__init__()
        self.bulk_error = bulk_error
        self.bulk_calls = 0
        self.lookups: list[list[str]] = []

    def can_create_many(self, tpl: Template) -> bool:
        return True

    async def create_many(self, tpl: Template, rows: Any) -> dict[str, Any]:
        self.bulk_calls += 1
        if self.bulk_error is not None:
            raise BedsError(self.bulk_error, "bulk refused")
        return {row["guid"]: {**row, "bulk": True} for row in rows}

    def can_fetch_by_guids(self, tpl: Template) -> bool:
        return True

    async def fetch_by_guids(self, tpl: Template, guids: Any) -> dict[str, Any]:
        self.lookups.append(list(guids))
        return {g: {"guid": g} for g in guids if g != "absent"}


def keyed_create(name: str, guid: str) -> Call:
    return Call("customer", "create", {"guid": guid, "name": name})


async def test_creates_of_one_template_share_one_bulk_call(registry) -> None:
    adapter = BulkAdapter()
    calls = [keyed_create(f"n{i}", f"g{i}") for i in range(5)]
    outcomes = await run_batch(adapter, registry, calls, 5.0)
    assert adapter.bulk_calls == 1 and adapter.finished == []
    assert [o.data["guid"] for o in outcomes] == [f"g{i}" for i in range(5)]
    assert all(o.data["bulk"] for o in outcomes)


async def test_a_refused_bulk_create_falls_back_so_a_bad_row_fails_alone(registry) -> None:
    adapter = BulkAdapter(bulk_error=ErrorCode.VALIDATION_FAILED)
    calls = [keyed_create("ok1", "g1"), keyed_create("missing", "g2"), keyed_create("ok2", "g3")]
    outcomes = await run_batch(adapter, registry, calls, 5.0)
    assert [o.code for o in outcomes] == [None, ErrorCode.NOT_FOUND, None]
    assert sorted(adapter.finished) == ["ok1", "ok2"]


async def test_a_bulk_create_during_an_outage_is_retryable_for_all(registry) -> None:
    adapter = BulkAdapter(bulk_error=ErrorCode.BACKEND_UNAVAILABLE)
    calls = [keyed_create("a", "g1"), keyed_create("b", "g2")]
    outcomes = await run_batch(adapter, registry, calls, 5.0)
    assert [o.code for o in outcomes] == [ErrorCode.BACKEND_UNAVAILABLE] * 2
    assert adapter.finished == []  # nothing was tried one by one against a dead database


async def test_fetches_by_guid_share_one_lookup_and_absent_ones_are_not_found(registry) -> None:
    adapter = BulkAdapter()
    calls = [Call("customer", "fetch", query={"guid": g}, limit=1) for g in ("x", "absent", "y")]
    outcomes = await run_batch(adapter, registry, calls, 5.0)
    assert adapter.lookups == [["x", "absent", "y"]]
    assert [o.code for o in outcomes] == [None, ErrorCode.NOT_FOUND, None]
    assert outcomes[0].data == [{"guid": "x"}]
