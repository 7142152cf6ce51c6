"""The adapter contract: the same test functions against every store kind, through `Adapter`.

- `mariadb` always runs, on the real MariaDB (database beds_test, DBA objects
  tests/fixtures/schema/V902__contract.sql).
- `mongodb` runs only when BEDS_TEST_MONGO_URI names a real MongoDB server (e.g.
  mongodb://127.0.0.1:27017/beds_test; README, "Development"). The suite creates the collection
  `contract_items` with a unique index on `cti_code`, as a DBA would, and drops it if it made it.
  Without the variable every mongodb case is SKIPPED with that reason (and one warning), never
  passed.

Template: tests/fixtures/templates/contract_item_rec.toml. Every test makes its own
uuid-unique records, so the suite passes twice in a row and in any order. No Ray, no RabbitMQ.
"""

from __future__ import annotations

import functools
import os
import socket
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aiomysql
import pytest
from pymongo import AsyncMongoClient, uri_parser

from beds_actors.adapters.base import Adapter, run_batch
from beds_actors.adapters.factory import build_adapter
from beds_actors.config import DbEndpoint, StoreConfig
from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.core.namaste import Call, Outcome, Record
from beds_actors.registry import DbObject, Registry, Template, load_registry
from beds_actors.stores.schema import apply_schema
from tests.conftest import FIXTURES, load_test_config

pytestmark = pytest.mark.integration

MONGO_URI_VAR = "BEDS_TEST_MONGO_URI"
NOT_RUN = f"{MONGO_URI_VAR} is not set: MongoDB half of the adapter contract not run"
ITEM = "contract_item"
UNIQUE_INDEX = "uq_contract_item_code"  # the same name as MariaDB's unique key
ADMIN = {"authSource": "admin"}
REFUSED = "refused by the driver"  # a value the driver would not even send (see `matched`)


class MongoHalfNotRun(UserWarning):
    """The MongoDB half of the contract was skipped: shown in every run's warnings summary."""


class Raw(Protocol):
    """What the database itself holds, read as a DBA would (not through BEDS)."""

    async def rows(self, guid: str) -> list[dict[str, Any]]:
        """The stored rows or documents with this guid, keyed by internal column names."""
        ...

    async def count_code(self, code: str) -> int:
        """How many stored records hold this code."""
        ...


@dataclass(frozen=True)
class Store:
    """One store under contract: its kind and config, a started adapter, raw access."""

    kind: str
    config: StoreConfig
    adapter: Adapter
    registry: Registry
    raw: Raw

    @property
    def item(self) -> Template:
        """The contract template."""
        return self.registry.templates[ITEM]


# --- the two stores --------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> Registry:
    """Every test template, loaded as the IPL does."""
    cfg = load_test_config()
    return load_registry(cfg.templates_dir, cfg.stores)


class Setup:
    """Each store kind's config, prepared on first use (a kind no test reaches is never set up).

    MariaDB: the test config's store `main` with the test-only DBA objects applied. MongoDB: the
    store BEDS_TEST_MONGO_URI names, with the contract's collection made as a DBA would (and
    dropped at the end if this run made it).
    """

    def __init__(self, registry: Registry) -> None:
        self.collection = registry.templates[ITEM].collection
        self.configs: dict[str, StoreConfig] = {}
        self.made: StoreConfig | None = None  # the MongoDB store whose collection we made

    async def config(self, kind: str) -> StoreConfig:
        if kind not in self.configs:
            self.configs[kind] = await (self._mariadb() if kind == "mariadb" else self._mongodb())
        return self.configs[kind]

    async def _mariadb(self) -> StoreConfig:
        main = load_test_config().stores["main"]
        fixtures = main.model_copy(update={"schema_dir": str(FIXTURES / "schema")})
        await apply_schema("main", fixtures)
        return main

    async def _mongodb(self) -> StoreConfig:
        config = mongo_store(os.environ[MONGO_URI_VAR])
        async with mongo_client(config.master) as client:
            database = client[config.master.database]
            if self.collection not in await database.list_collection_names():
                await database.create_collection(self.collection)
                self.made = config
            await database[self.collection].create_index("cti_code", unique=True, name=UNIQUE_INDEX)
        return config

    async def close(self) -> None:
        if self.made is not None:
            async with mongo_client(self.made.master) as client:
                await client[self.made.master.database].drop_collection(self.collection)


@pytest.fixture(scope="module")
async def setup(registry: Registry) -> AsyncIterator[Setup]:
    """The lazily prepared stores of this module, cleaned up after its last test."""
    prepared = Setup(registry)
    try:
        yield prepared
    finally:
        await prepared.close()


@pytest.fixture(params=["mariadb", "mongodb"])
async def store(
    request: pytest.FixtureRequest, registry: Registry, setup: Setup
) -> AsyncIterator[Store]:
    """Each store kind in turn; mongodb only with BEDS_TEST_MONGO_URI, otherwise skipped."""
    kind: str = request.param
    if kind == "mongodb" and not os.environ.get(MONGO_URI_VAR):
        announce_mongo_skip()
        pytest.skip(NOT_RUN)
    config = await setup.config(kind)
    assert config.kind == kind
    adapter = build_adapter("contract", config)  # the factory picks the adapter by kind
    await adapter.start()
    try:
        if kind == "mariadb":
            yield Store(kind, config, adapter, registry, MariaDbRaw(config.master))
        else:
            async with mongo_client(config.master) as client:
                collection = client[config.master.database][setup.collection]
                yield Store(kind, config, adapter, registry, MongoDbRaw(collection))
    finally:
        await adapter.stop()


@functools.cache
def announce_mongo_skip() -> None:
    """Say once per run, where a plain `pytest -q` shows it, that MongoDB was not tested."""
    warnings.warn(NOT_RUN, MongoHalfNotRun, stacklevel=1)


def mongo_store(uri: str) -> StoreConfig:
    """`mongodb://[user:password@]host[:port]/database` as a `kind = "mongodb"` store config."""
    parsed = uri_parser.parse_uri(uri)
    options = dict(parsed["options"])
    # authSource=admin is what the adapter uses for a user anyway; nothing else maps onto it.
    if len(parsed["nodelist"]) != 1 or not parsed["database"] or options not in ({}, ADMIN):
        pytest.fail(
            f"{MONGO_URI_VAR}={uri!r}: the suite maps it onto stores.<s>.master, so it takes "
            "mongodb://[user:password@]host[:port]/database (one host, a database, no options)"
        )
    [(host, port)] = parsed["nodelist"]
    master: dict[str, Any] = {"host": host, "database": parsed["database"]}
    if port is not None:
        master["port"] = port
    if parsed["username"]:
        master.update(user=parsed["username"], password=parsed["password"] or "")
    # Validated like a config file's table: the mongodb defaults (port, no user) apply.
    return StoreConfig.model_validate(
        {"kind": "mongodb", "pool_size": 4, "connect_timeout_s": 3.0, "master": master}
    )


def mongo_client(ep: DbEndpoint) -> AsyncMongoClient[dict[str, Any]]:
    """A client of our own for the DBA's side of the test (collection setup, raw reads)."""
    auth: dict[str, Any] = {"username": ep.user, "password": ep.password} if ep.user else {}
    return AsyncMongoClient(
        host=ep.host, port=ep.port, tz_aware=True, serverSelectionTimeoutMS=3000, **auth
    )


class MariaDbRaw:
    """Table contract_item, read with plain SQL."""

    def __init__(self, ep: DbEndpoint) -> None:
        self.ep = ep

    async def _select(self, where: str, value: str) -> list[dict[str, Any]]:
        conn = await aiomysql.connect(
            host=self.ep.host,
            port=self.ep.port,
            user=self.ep.user,
            password=self.ep.password,
            db=self.ep.database,
            autocommit=True,
        )
        try:
            async with conn.cursor(aiomysql.DictCursor) as cur:
                await cur.execute(f"SELECT * FROM contract_item WHERE {where} = %s", [value])
                return list(await cur.fetchall())
        finally:
            conn.close()

    async def rows(self, guid: str) -> list[dict[str, Any]]:
        return await self._select("cti_guid", guid)

    async def count_code(self, code: str) -> int:
        return len(await self._select("cti_code", code))


class MongoDbRaw:
    """Collection contract_items, read with a client of our own."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    async def rows(self, guid: str) -> list[dict[str, Any]]:
        return list(await self.collection.find({"_id": {"$eq": guid}}).to_list())

    async def count_code(self, code: str) -> int:
        return int(await self.collection.count_documents({"cti_code": {"$eq": code}}))


# --- helpers ---------------------------------------------------------------------------


def new_item(**values: Any) -> Call:
    """A create with a fresh guid and a unique code (values may replace or add to them)."""
    run = uuid.uuid4().hex
    return Call(ITEM, "create", {"guid": run, "code": f"code-{run}", **values})


def record_of(call: Call, **changed: Any) -> Record:
    """The record a create of `call` makes: every field, null where the create gave none."""
    fields = ("guid", "code", "label", "score", "ratio", "active", "due")
    return {f: changed.get(f, call.values.get(f)) for f in fields}


def by_guid(guid: str) -> Call:
    """A fetch of one record by its guid."""
    return Call(ITEM, "fetch", query={"guid": guid})


def by_key(record: Record) -> str:
    """Sort key of records (a fetch's order is not specified)."""
    return str(record["guid"])


async def run_one(store: Store, call: Call) -> Outcome:
    """One call through run_batch, as the adapter actor runs it."""
    [outcome] = await run_batch(store.adapter, store.registry, [call], timeout_s=10.0)
    return outcome


async def run_many(store: Store, calls: list[Call]) -> list[Outcome]:
    """One batch through run_batch: same-template lookups and creates share a round trip."""
    return await run_batch(store.adapter, store.registry, calls, timeout_s=10.0)


def result(outcome: Outcome) -> tuple[str | None, Any]:
    """(error code, data) of an outcome, without its timing."""
    return outcome.code, outcome.data


async def created(store: Store, call: Call) -> Record:
    """Create through run_batch and return the record; the create must succeed."""
    outcome = await run_one(store, call)
    assert outcome.ok, outcome
    record: Record = outcome.data
    return record


async def matched(work: Awaitable[Any]) -> Any:
    """What an adapter call gave, its error code, or REFUSED if the driver refused the value.

    The MariaDB driver will not bind a mapping as a parameter (TypeError); MongoDB compares it
    as a literal through `$eq`. Either way it never becomes a query operator.
    """
    try:
        return await work
    except BedsError as exc:
        return exc.code
    except TypeError:
        return REFUSED


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound by the OS a moment ago, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- create and fetch ------------------------------------------------------------------


async def test_create_then_fetch_by_guid_returns_exactly_the_record(store: Store) -> None:
    call = new_item(
        label="round trip", score=-7, ratio=0.25, active=True, due="2026-03-01T12:00:00"
    )
    sparse = new_item()  # only the required field: every other field reads back as null

    made = await run_one(store, call)
    fetched = await run_one(store, by_guid(call.values["guid"]))
    made_sparse = await run_one(store, sparse)
    fetched_sparse = await run_one(store, by_guid(sparse.values["guid"]))

    assert result(made) == (None, record_of(call))
    assert result(fetched) == (None, [record_of(call)])
    assert result(made_sparse) == (None, record_of(sparse))
    assert result(fetched_sparse) == (None, [record_of(sparse)])
    assert set(made.data) == set(store.item.fields)  # external names only, never cti_*


async def test_a_repeated_create_returns_the_first_record_and_stores_one(store: Store) -> None:
    first = new_item(label="first")
    again = Call(ITEM, "create", {**first.values, "label": "second"})  # same guid: a redelivery

    outcomes = [await run_one(store, first), await run_one(store, again)]

    assert [result(o) for o in outcomes] == [(None, record_of(first))] * 2
    assert len(await store.raw.rows(first.values["guid"])) == 1


async def test_a_duplicate_unique_value_is_a_conflict(store: Store) -> None:
    first = new_item()
    code = first.values["code"]
    await created(store, first)
    second = new_item(code=code)

    outcome = await run_one(store, second)

    assert outcome.code == ErrorCode.CONFLICT
    assert outcome.message is not None and outcome.message.startswith("duplicate value: ")
    assert await store.raw.rows(second.values["guid"]) == []
    assert await store.raw.count_code(code) == 1


async def test_fetch_by_queryable_fields_is_equality_on_each_within_the_limit(store: Store) -> None:
    label = f"label-{uuid.uuid4().hex}"
    calls = [new_item(label=label, score=i) for i in range(3)]
    records = [await created(store, call) for call in calls]

    two = await run_one(store, Call(ITEM, "fetch", query={"label": label}, limit=2))
    every = await run_one(store, Call(ITEM, "fetch", query={"label": label}, limit=10))
    both = await run_one(
        store, Call(ITEM, "fetch", query={"label": label, "code": calls[1].values["code"]})
    )
    other = await run_one(store, Call(ITEM, "fetch", query={"label": f"absent-{label}"}))

    assert two.ok and len(two.data) == 2
    assert all(r in records for r in two.data)
    assert every.ok and sorted(every.data, key=by_key) == sorted(records, key=by_key)
    assert result(both) == (None, [records[1]])
    assert result(other) == (None, [])  # no match without a guid: an empty list, not not_found


async def test_fetching_an_absent_guid_is_not_found(store: Store) -> None:
    guid = uuid.uuid4().hex

    outcome = await run_one(store, by_guid(guid))

    assert (outcome.code, outcome.message) == (ErrorCode.NOT_FOUND, f"{ITEM} {guid!r} not found")


# --- update and delete -----------------------------------------------------------------


async def test_update_changes_only_the_given_fields_and_returns_the_record(store: Store) -> None:
    call = new_item(label="keep", score=1, ratio=0.5, active=False, due="2026-01-02T03:04:05")
    guid = call.values["guid"]
    await created(store, call)

    # label null and absent fields alike keep their values; active=False is a value, not null.
    changes = {"score": 2, "label": None, "active": True}
    updated = await run_one(store, Call(ITEM, "update", changes, {"guid": guid}))
    fetched = await run_one(store, by_guid(guid))

    after = record_of(call, score=2, active=True)
    assert result(updated) == (None, after)
    assert result(fetched) == (None, [after])


async def test_updating_an_absent_guid_is_not_found(store: Store) -> None:
    guid = uuid.uuid4().hex

    outcome = await run_one(store, Call(ITEM, "update", {"score": 1}, {"guid": guid}))

    assert (outcome.code, outcome.message) == (ErrorCode.NOT_FOUND, f"{ITEM} {guid!r} not found")
    assert await store.raw.rows(guid) == []


async def test_an_update_to_a_used_unique_value_is_a_conflict(store: Store) -> None:
    taken, mine = new_item(), new_item()
    await created(store, taken)
    await created(store, mine)
    code = taken.values["code"]

    outcome = await run_one(
        store, Call(ITEM, "update", {"code": code}, {"guid": mine.values["guid"]})
    )

    assert outcome.code == ErrorCode.CONFLICT
    assert outcome.message is not None and outcome.message.startswith("duplicate value: ")
    assert result(await run_one(store, by_guid(mine.values["guid"]))) == (None, [record_of(mine)])


async def test_delete_then_fetch_and_a_second_delete_are_not_found(store: Store) -> None:
    call = new_item()
    guid = call.values["guid"]
    await created(store, call)
    delete = Call(ITEM, "delete", query={"guid": guid})
    not_found = (ErrorCode.NOT_FOUND, f"{ITEM} {guid!r} not found")

    deleted = await run_one(store, delete)
    fetched = await run_one(store, by_guid(guid))
    again = await run_one(store, delete)

    assert result(deleted) == (None, {"guid": guid, "deleted": True})
    assert (fetched.code, fetched.message) == not_found
    assert (again.code, again.message) == not_found
    assert await store.raw.rows(guid) == []


async def test_an_op_without_an_objects_entry_is_unknown_op(store: Store) -> None:
    objects = {k: v for k, v in store.item.objects.items() if k != "delete"}
    no_delete = store.item.model_copy(update={"objects": objects})
    call = new_item()
    await created(store, call)

    with pytest.raises(BedsError) as raised:
        await store.adapter.delete(no_delete, call.values["guid"])

    assert (raised.value.code, raised.value.message) == (
        ErrorCode.UNKNOWN_OP,
        f"template {ITEM!r} does not support 'delete'",
    )
    assert len(await store.raw.rows(call.values["guid"])) == 1


async def test_a_template_whose_dba_objects_are_missing_is_internal_error(store: Store) -> None:
    absent = f"absent_{uuid.uuid4().hex[:12]}"
    objects = {
        "fetch": DbObject(view=f"v_{absent}"),
        "create": DbObject(procedure=f"sp_{absent}", params=["guid", "code"]),
    }
    gone = store.item.model_copy(update={"collection": absent, "objects": objects})
    registry = Registry(templates={ITEM: gone})
    calls = [new_item(), Call(ITEM, "fetch", query={"code": "any"}), new_item()]

    # One by one: the second create shows the first left nothing behind (MongoDB would have
    # made the collection on an insert).
    outcomes = [await run_batch(store.adapter, registry, [c], timeout_s=10.0) for c in calls]

    for [outcome] in outcomes:
        assert outcome.code == ErrorCode.INTERNAL_ERROR
        assert outcome.message is not None and absent in outcome.message, outcome.message


# --- batches ---------------------------------------------------------------------------


async def test_many_fetches_by_guid_in_one_batch_each_get_their_own_outcome(store: Store) -> None:
    calls = [new_item(score=i) for i in range(3)]
    records = [await created(store, call) for call in calls]
    guids = [c.values["guid"] for c in calls]
    absent = [uuid.uuid4().hex, uuid.uuid4().hex]
    asked = [guids[0], absent[0], guids[1], guids[2], absent[1], guids[0]]

    outcomes = await run_many(store, [by_guid(g) for g in asked])
    direct = await store.adapter.fetch_by_guids(store.item, [guids[1], absent[0]])

    assert store.adapter.can_fetch_by_guids(store.item)  # so the batch took one multi-key read
    missing = [(ErrorCode.NOT_FOUND, f"{ITEM} {g!r} not found") for g in absent]
    assert [(o.code, o.data if o.ok else o.message) for o in outcomes] == [
        (None, [records[0]]),
        missing[0],
        (None, [records[1]]),
        (None, [records[2]]),
        missing[1],
        (None, [records[0]]),
    ]
    assert direct == {guids[1]: records[1]}


async def test_creates_in_one_batch_each_get_their_record_once(store: Store) -> None:
    existing = new_item(label="stored before")
    await created(store, existing)
    fresh = [new_item(label="batch", score=i) for i in range(3)]
    repeat = Call(ITEM, "create", {**existing.values, "label": "sent again"})
    calls = [fresh[0], repeat, fresh[1], fresh[2]]

    outcomes = await run_many(store, calls)
    more = new_item(label="direct")
    direct = await store.adapter.create_many(store.item, [more.values, existing.values])

    assert store.adapter.can_create_many(store.item)  # so the batch took one bulk create
    assert direct == {
        more.values["guid"]: record_of(more),
        existing.values["guid"]: record_of(existing),
    }
    assert [result(o) for o in outcomes] == [
        (None, record_of(fresh[0])),
        (None, record_of(existing)),
        (None, record_of(fresh[1])),
        (None, record_of(fresh[2])),
    ]
    for call in [*calls, more]:
        assert len(await store.raw.rows(call.values["guid"])) == 1


async def test_a_conflicting_create_in_a_batch_fails_alone(store: Store) -> None:
    taken = new_item()
    await created(store, taken)
    code = taken.values["code"]
    good = [new_item(score=1), new_item(score=2)]
    bad = new_item(code=code)

    outcomes = await run_many(store, [good[0], bad, good[1]])

    assert result(outcomes[0]) == (None, record_of(good[0]))
    assert result(outcomes[2]) == (None, record_of(good[1]))
    assert outcomes[1].code == ErrorCode.CONFLICT
    assert [len(await store.raw.rows(c.values["guid"])) for c in (good[0], bad, good[1])] == [
        1,
        0,
        1,
    ]
    assert await store.raw.count_code(code) == 1


# --- values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "utc"),
    [
        ("2026-03-01T12:00:00+02:00", datetime(2026, 3, 1, 10, 0)),
        ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, 0)),  # naive: taken as UTC
        ("2026-03-01T23:30:00.250-05:00", datetime(2026, 3, 2, 4, 30, 0, 250000)),
        ("2026-03-01T12:00:00.123999", datetime(2026, 3, 1, 12, 0, 0, 123000)),  # ms are kept
    ],
    ids=["offset", "naive", "offset-crossing-midnight", "sub-millisecond"],
)
async def test_a_datetime_is_stored_and_returned_as_utc(
    store: Store, sent: str, utc: datetime
) -> None:
    # Both stores keep milliseconds. A fetch by the value as sent matches when it has no finer
    # digits (a sub-millisecond query value matches on MongoDB, whose dates are milliseconds,
    # but not on MariaDB, which compares all six digits): the value read back always matches.
    call = new_item(due=sent)
    guid = call.values["guid"]
    later = "2026-06-30T00:15:00+03:00"  # update path: the previous day 21:15 UTC

    made = await run_one(store, call)
    [stored] = await store.raw.rows(guid)
    by_sent = await run_one(store, Call(ITEM, "fetch", query={"guid": guid, "due": sent}))
    by_read = await run_one(
        store, Call(ITEM, "fetch", query={"guid": guid, "due": utc.isoformat()})
    )
    updated = await run_one(store, Call(ITEM, "update", {"due": later}, {"guid": guid}))

    assert made.ok and made.data["due"] == utc.isoformat()
    assert as_naive_utc(stored["cti_due"]) == utc
    assert result(by_read) == (None, [made.data])
    if datetime.fromisoformat(sent).microsecond % 1000 == 0:
        assert result(by_sent) == (None, [made.data])
    assert updated.ok and updated.data["due"] == "2026-06-29T21:15:00"
    assert as_naive_utc((await store.raw.rows(guid))[0]["cti_due"]) == datetime(2026, 6, 29, 21, 15)


def as_naive_utc(value: datetime) -> datetime:
    """A stored date-time as naive UTC (MariaDB holds it so; MongoDB as an aware UTC date)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


async def test_operator_looking_values_are_plain_data(store: Store) -> None:
    victim = new_item(label="$where")
    guid = victim.values["guid"]
    record = await created(store, victim)
    tpl, adapter = store.item, store.adapter

    [stored] = await store.raw.rows(guid)
    by_label = await run_one(store, Call(ITEM, "fetch", query={"guid": guid, "label": "$where"}))
    # Called on the adapter directly: validation would refuse these before they got here.
    # Read as operators, each would match (or change) every record, the victim among them.
    reads = [
        await matched(adapter.fetch(tpl, {"code": {"$gt": ""}}, 10)),
        await matched(adapter.fetch(tpl, {"guid": {"$ne": ""}}, 10)),
        await matched(adapter.fetch(tpl, {"label": {"$regex": ".*"}}, 10)),
        await matched(adapter.fetch(tpl, {"code": "$where"}, 10)),
    ]
    writes = [
        await matched(adapter.update(tpl, {"$ne": ""}, {"label": "changed"})),  # type: ignore[arg-type]
        await matched(adapter.delete(tpl, {"$ne": ""})),  # type: ignore[arg-type]
    ]

    assert stored["cti_label"] == "$where"  # stored verbatim
    assert result(by_label) == (None, [record])
    assert [r in ([], REFUSED) for r in reads] == [True] * 4, reads
    assert [w in (ErrorCode.NOT_FOUND, REFUSED) for w in writes] == [True] * 2, writes
    assert result(await run_one(store, by_guid(guid))) == (None, [record])  # untouched


# --- availability ----------------------------------------------------------------------


async def test_a_store_that_is_down_is_backend_unavailable_naming_host_and_port(
    store: Store,
) -> None:
    port = closed_port()
    master = store.config.master.model_copy(update={"host": "127.0.0.1", "port": port})
    down = store.config.model_copy(update={"master": master, "connect_timeout_s": 1.0})
    adapter = build_adapter("contract", down)

    await adapter.start()  # must not fail: the store may come back
    try:
        outcomes = await run_batch(
            adapter,
            store.registry,
            [new_item(), Call(ITEM, "fetch", query={"code": "any"})],
            timeout_s=10.0,
        )
        with pytest.raises(BedsError) as raised:
            await adapter.ping()
    finally:
        await adapter.stop()

    where = f"127.0.0.1:{port}"
    for outcome in outcomes:
        assert outcome.code == ErrorCode.BACKEND_UNAVAILABLE
        assert outcome.message is not None and where in outcome.message, outcome.message
    assert raised.value.code == ErrorCode.BACKEND_UNAVAILABLE
    assert where in raised.value.message
