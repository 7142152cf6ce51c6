"""MariaDbAdapter and run_batch in-process against the real MariaDB (no Ray, no RabbitMQ).

Domain `adapter_case` (tests/fixtures/templates/adapter_case_rec.toml, DBA objects in
tests/fixtures/schema/V901__adapter_cases.sql); every test makes its own uniquely named rows.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from beds_actors.adapters.base import run_batch
from beds_actors.adapters.mariadb import MariaDbAdapter
from beds_actors.config import BedsConfig, DbEndpoint, StoreConfig
from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.core.namaste import Call, Outcome
from beds_actors.registry import Registry, load_registry
from beds_actors.testing import connection
from tests.conftest import apply_test_schema, load_test_config

pytestmark = pytest.mark.integration

CASE = "adapter_case"
GONE = "adapter_gone"
SIGNAL_TEXT = "adapter_case: score must not be negative"  # sp_adapter_case_create's SIGNAL


@pytest.fixture(scope="module")
async def cfg() -> BedsConfig:
    """The test config, with the demo and test-only DBA objects applied to beds_test."""
    config = load_test_config()
    await apply_test_schema(config)
    return config


@pytest.fixture(scope="module")
def registry(cfg: BedsConfig) -> Registry:
    """Every test template, loaded as the IPL does."""
    return load_registry(cfg.templates_dir, cfg.stores)


@pytest.fixture
def store(cfg: BedsConfig) -> StoreConfig:
    """The MariaDB store `main` (database beds_test)."""
    return cfg.stores["main"]


@pytest.fixture
async def adapter(store: StoreConfig) -> AsyncIterator[MariaDbAdapter]:
    """A started adapter on store `main`, stopped after the test."""
    async with started(store) as running:
        yield running


@asynccontextmanager
async def started(store: StoreConfig) -> AsyncIterator[MariaDbAdapter]:
    """A MariaDbAdapter for `store`, started on enter and stopped on exit."""
    adapter = MariaDbAdapter("main", store)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


@pytest.fixture
async def replica(store: StoreConfig) -> AsyncIterator[DbEndpoint]:
    """A second database holding its own `adapter_case` table behind the same view name."""
    name = f"beds_test_replica_{uuid.uuid4().hex[:8]}"
    master = store.master.database
    await sql(
        store.master,
        f"CREATE DATABASE `{name}`",
        f"CREATE TABLE `{name}`.adapter_case LIKE `{master}`.adapter_case",
        f"CREATE VIEW `{name}`.v_adapter_case AS SELECT adc_guid, adc_code, adc_score, "
        f"adc_due, adc_created FROM `{name}`.adapter_case",
    )
    try:
        yield store.master.model_copy(update={"database": name})
    finally:
        await sql(store.master, f"DROP DATABASE IF EXISTS `{name}`")


# --- helpers ---------------------------------------------------------------------------


async def sql(ep: DbEndpoint, *statements: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run statements directly (as a DBA would, not through BEDS), each bound to `args`.

    Returns the rows of the last statement.
    """
    async with connection(ep) as conn, conn.cursor() as cur:
        for statement in statements:
            await cur.execute(statement, args or None)
        return list(await cur.fetchall())


async def stored(ep: DbEndpoint, guid: str) -> list[tuple[Any, ...]]:
    """The raw (code, score, due, via) rows of table adapter_case with this guid."""
    return await sql(
        ep,
        "SELECT adc_code, adc_score, adc_due, adc_via FROM adapter_case WHERE adc_guid = %s",
        args=[guid],
    )


def untimed(outcome: Outcome) -> Outcome:
    """The outcome without when and where its database call ran (compared separately)."""
    return replace(outcome, started_us=0, ended_us=0, db_object="", shared=1)


def new_case(**values: Any) -> Call:
    """A create of adapter_case with a fresh guid and a unique code (values may replace them)."""
    run = uuid.uuid4().hex
    return Call(CASE, "create", {"guid": run, "code": f"case-{run}", **values})


async def run_one(adapter: MariaDbAdapter, registry: Registry, call: Call) -> Outcome:
    """One call through run_batch, as the adapter actor runs it."""
    [outcome] = await run_batch(adapter, registry, [call], timeout_s=5.0)
    return outcome


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound by the OS a moment ago, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- error mapping ---------------------------------------------------------------------


async def test_a_duplicate_unique_value_is_a_conflict(
    adapter: MariaDbAdapter, registry: Registry, store: StoreConfig
) -> None:
    first = new_case()
    code = first.values["code"]
    assert (await run_one(adapter, registry, first)).ok
    second = new_case(code=code)

    outcome = await run_one(adapter, registry, second)

    expected = f"duplicate value: Duplicate entry '{code}' for key 'uq_adapter_case_code'"
    assert untimed(outcome) == Outcome(code=ErrorCode.CONFLICT, message=expected)
    with pytest.raises(BedsError) as raised:  # the adapter itself raises, run_batch reports
        await adapter.create(registry.templates[CASE], new_case(code=code).values)
    assert (raised.value.code, raised.value.message) == (ErrorCode.CONFLICT, expected)
    count = "SELECT COUNT(*) FROM adapter_case WHERE adc_code = %s"
    assert await sql(store.master, count, args=[code]) == [(1,)]
    assert await stored(store.master, second.values["guid"]) == []


async def test_a_dba_signal_is_validation_failed_with_the_dba_message(
    adapter: MariaDbAdapter, registry: Registry, store: StoreConfig
) -> None:
    call = new_case(score=-1)

    outcome = await run_one(adapter, registry, call)

    assert untimed(outcome) == Outcome(code=ErrorCode.VALIDATION_FAILED, message=SIGNAL_TEXT)
    assert await stored(store.master, call.values["guid"]) == []


@pytest.mark.parametrize(
    ("call", "missing"),
    [
        (
            Call(GONE, "fetch", query={"name": "x"}),
            "Table 'beds_test.v_adapter_gone' doesn't exist",
        ),
        (
            Call(GONE, "create", {"guid": uuid.uuid4().hex, "name": "x"}),
            "PROCEDURE beds_test.sp_adapter_gone_create does not exist",
        ),
    ],
    ids=["view", "procedure"],
)
async def test_a_missing_dba_object_is_internal_error_telling_to_apply_the_schema(
    adapter: MariaDbAdapter, registry: Registry, store: StoreConfig, call: Call, missing: str
) -> None:
    outcome = await run_one(adapter, registry, call)

    assert store.master.where == "127.0.0.1:3306/beds_test"  # the host:port the message names
    assert untimed(outcome) == Outcome(
        code=ErrorCode.INTERNAL_ERROR,
        message=f"store 'main' at 127.0.0.1:3306/beds_test: {missing} — the DBA objects are "
        "missing or out of date; apply them with `beds schema apply`",
    )


async def test_a_store_that_is_down_is_backend_unavailable_naming_host_and_port(
    store: StoreConfig, registry: Registry
) -> None:
    port = closed_port()
    down = store.model_copy(
        update={"master": store.master.model_copy(update={"port": port}), "connect_timeout_s": 1.0}
    )
    async with started(down) as adapter:  # start() must not fail: the store may come back
        outcomes = await run_batch(
            adapter,
            registry,
            [new_case(), Call(CASE, "fetch", query={"code": "any"})],
            timeout_s=5.0,
        )
        with pytest.raises(BedsError) as raised:
            await adapter.ping()

    prefix = f"store 'main': cannot connect to MariaDB at 127.0.0.1:{port}/beds_test: "
    for outcome in outcomes:
        assert outcome.code == ErrorCode.BACKEND_UNAVAILABLE
        assert outcome.message is not None and outcome.message.startswith(prefix)
    assert raised.value.code == ErrorCode.BACKEND_UNAVAILABLE
    assert raised.value.message.startswith(prefix)


# --- read endpoint ---------------------------------------------------------------------


async def test_fetch_reads_the_secondary_while_create_and_update_write_the_master(
    store: StoreConfig, registry: Registry, replica: DbEndpoint
) -> None:
    call = new_case(score=1)
    guid, code = call.values["guid"], call.values["code"]
    other = new_case()  # exists on the master only
    async with started(store.model_copy(update={"secondary": replica})) as adapter:
        created = await run_batch(adapter, registry, [call], timeout_s=5.0)
        assert created[0].ok and (await run_one(adapter, registry, other)).ok
        assert await stored(store.master, guid) == [(code, 1, None, "single")]
        assert await stored(replica, guid) == []
        # The replica holds the same guid with different values: what fetch returns shows
        # which database it read.
        await sql(
            replica,
            "INSERT INTO adapter_case (adc_guid, adc_code, adc_score, adc_via) "
            "VALUES (%s, %s, 7, 'replica')",
            args=[guid, f"replica-{code}"],
        )

        by_guid = await run_one(adapter, registry, Call(CASE, "fetch", query={"guid": guid}))
        by_code = await run_one(adapter, registry, Call(CASE, "fetch", query={"code": code}))
        lookups = await run_batch(  # two fetches by guid alone: the multi-key read
            adapter,
            registry,
            [Call(CASE, "fetch", query={"guid": g}) for g in (guid, other.values["guid"])],
            timeout_s=5.0,
        )
        updated = await run_one(
            adapter, registry, Call(CASE, "update", {"score": 2}, query={"guid": guid})
        )

    replica_row = {"guid": guid, "code": f"replica-{code}", "score": 7, "due": None}
    assert by_guid.ok and [_without_created(r) for r in by_guid.data] == [replica_row]
    assert untimed(by_code) == Outcome(data=[])  # the master's code is not on the replica
    assert lookups[0].ok and [_without_created(r) for r in lookups[0].data] == [replica_row]
    assert untimed(lookups[1]) == Outcome(
        code=ErrorCode.NOT_FOUND, message=f"adapter_case {other.values['guid']!r} not found"
    )
    assert updated.ok and _without_created(updated.data) == {
        "guid": guid,
        "code": code,
        "score": 2,
        "due": None,
    }
    assert await stored(store.master, guid) == [(code, 2, None, "single")]
    assert await stored(replica, guid) == [(f"replica-{code}", 7, None, "replica")]


def _without_created(record: dict[str, Any]) -> dict[str, Any]:
    """A record minus its server-set `created` time, for exact comparison."""
    return {k: v for k, v in record.items() if k != "created"}


# --- datetime → UTC --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "utc"),
    [
        ("2026-03-01T12:00:00+02:00", datetime(2026, 3, 1, 10, 0)),
        ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, 0)),  # naive: taken as UTC
        ("2026-03-01T23:30:00.250-05:00", datetime(2026, 3, 2, 4, 30, 0, 250000)),
    ],
    ids=["offset", "naive", "offset-crossing-midnight"],
)
async def test_a_datetime_is_stored_and_returned_as_utc(
    adapter: MariaDbAdapter, registry: Registry, store: StoreConfig, sent: str, utc: datetime
) -> None:
    create = new_case(due=sent)
    guid = create.values["guid"]
    later = "2026-06-30T00:15:00+03:00"  # update path: the previous day 21:15 UTC

    created = await run_one(adapter, registry, create)
    in_db = await stored(store.master, guid)
    fetched = await run_one(adapter, registry, Call(CASE, "fetch", query={"guid": guid}))
    updated = await run_one(adapter, registry, Call(CASE, "update", {"due": later}, {"guid": guid}))

    assert created.ok and created.data["due"] == utc.isoformat()
    assert in_db == [(create.values["code"], None, utc, "single")]
    assert fetched.ok and [r["due"] for r in fetched.data] == [utc.isoformat()]
    assert updated.ok and updated.data["due"] == "2026-06-29T21:15:00"
    assert (await stored(store.master, guid))[0][2] == datetime(2026, 6, 29, 21, 15)


async def test_a_bulk_create_stores_datetimes_as_utc(
    adapter: MariaDbAdapter, registry: Registry, store: StoreConfig
) -> None:
    calls = [new_case(due="2026-03-01T12:00:00+02:00"), new_case(due="2026-03-01T12:00:00")]

    outcomes = await run_batch(adapter, registry, calls, timeout_s=5.0)

    assert [o.data["due"] for o in outcomes] == ["2026-03-01T10:00:00", "2026-03-01T12:00:00"]
    rows = [await stored(store.master, c.values["guid"]) for c in calls]
    assert [[(due, via) for _, _, due, via in r] for r in rows] == [
        [(datetime(2026, 3, 1, 10, 0), "bulk")],
        [(datetime(2026, 3, 1, 12, 0), "bulk")],
    ]


# --- bulk create -----------------------------------------------------------------------


async def test_a_batch_of_good_creates_is_one_bulk_call(
    adapter: MariaDbAdapter, registry: Registry, store: StoreConfig
) -> None:
    calls = [new_case(score=i) for i in range(3)]

    outcomes = await run_batch(adapter, registry, calls, timeout_s=5.0)

    assert [o.code for o in outcomes] == [None] * 3
    assert [o.data["guid"] for o in outcomes] == [c.values["guid"] for c in calls]
    for i, call in enumerate(calls):
        assert await stored(store.master, call.values["guid"]) == [
            (call.values["code"], i, None, "bulk")
        ]


async def test_a_refused_bulk_create_falls_back_to_one_create_per_row(
    adapter: MariaDbAdapter, registry: Registry, store: StoreConfig
) -> None:
    good = [new_case(score=1), new_case(score=2)]
    bad = new_case(score=-1)
    calls = [good[0], bad, good[1]]

    outcomes = await run_batch(adapter, registry, calls, timeout_s=5.0)

    # The bad row fails alone, with the single-create procedure's message: the fallback ran.
    assert untimed(outcomes[1]) == Outcome(code=ErrorCode.VALIDATION_FAILED, message=SIGNAL_TEXT)
    for outcome, call in zip((outcomes[0], outcomes[2]), good, strict=True):
        assert outcome.ok
        assert _without_created(outcome.data) == {**call.values, "due": None}
    # Each good row exists exactly once, made by the per-row procedure; the bad one not at all.
    assert [await stored(store.master, c.values["guid"]) for c in calls] == [
        [(good[0].values["code"], 1, None, "single")],
        [],
        [(good[1].values["code"], 2, None, "single")],
    ]
