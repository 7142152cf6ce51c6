"""Unit tests of the MongoDB adapter's pure functions: NO MongoDB server is used or needed.

Filter building (explicit `$eq`), document ↔ record mapping, error mapping from pymongo
exception instances, client options, the mongodb config defaults and the template key
`collection`. Passing here is NOT a MongoDB pass: the adapter against a real server is the
mongodb half of tests/integration/test_adapter_contract.py (it needs BEDS_TEST_MONGO_URI).
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from bson.errors import InvalidDocument
from bson.int64 import Int64
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    WriteError,
)

from beds_actors.adapters import mariadb, mongodb
from beds_actors.config import BedsConfig, StoreConfig
from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.ipl.preflight import targets
from beds_actors.registry import Template, TemplateError, load_registry
from tests.unit.conftest import WriteTemplate

FIXTURE_TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
WHERE = "10.0.0.5:27017/beds"
GUID = "0f8e4a1c2b3d4e5f6a7b8c9d0e1f2a3b"
DUP_MESSAGE = (
    "E11000 duplicate key error collection: beds.contract_items index: uq_contract_item_code "
    'dup key: { cti_code: "taken" }'
)


@pytest.fixture(scope="module")
def item() -> Template:
    """The adapter contract's template (one field of every type, collection contract_items)."""
    return load_registry(FIXTURE_TEMPLATES).templates["contract_item"]


def translated(exc: PyMongoError | InvalidDocument, tpl: Template | None = None) -> BedsError:
    return mongodb.translate(exc, store="main", where=WHERE, tpl=tpl)


# --- filters ---------------------------------------------------------------------------


def test_every_query_value_is_an_explicit_eq_on_its_column(item: Template) -> None:
    query = {"guid": GUID, "code": "c-1", "label": "$where", "score": 3}

    assert mongodb.query_filter(item, query) == {
        "_id": {"$eq": GUID},
        "cti_code": {"$eq": "c-1"},
        "cti_label": {"$eq": "$where"},
        "cti_score": {"$eq": 3},
    }
    assert mongodb.query_filter(item, {}) == {}
    assert mongodb.guid_filter(GUID) == {"_id": {"$eq": GUID}}


@pytest.mark.parametrize(
    "value",
    [{"$gt": ""}, {"$ne": None}, {"$where": "sleep(1000)"}, ["$in", "x"], "$where", "{$gt: ''}"],
)
def test_an_operator_looking_value_stays_a_literal_inside_eq(item: Template, value: Any) -> None:
    assert mongodb.query_filter(item, {"code": value, "guid": value}) == {
        "cti_code": {"$eq": value},
        "_id": {"$eq": value},
    }


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["$gt", "$ne", "$where", "$expr", "a.b", "x"]), inner)
    ),
    max_leaves=8,
)


@given(query=st.dictionaries(st.sampled_from(["guid", "code", "label", "score", "active"]), JSON))
def test_any_query_becomes_only_eq_conditions_on_template_keys(
    item: Template, query: dict[str, Any]
) -> None:
    built = mongodb.query_filter(item, query)

    assert set(built) <= {"_id", "cti_code", "cti_label", "cti_score", "cti_active"}
    conditions = dict(zip(query, built.values(), strict=True))  # one condition per field
    assert all(conditions[name] == {"$eq": value} for name, value in query.items())


@pytest.mark.parametrize("name", ["$where", "cti_code", "_id", "nope", "code.$"])
def test_a_key_that_is_not_a_template_field_is_refused(item: Template, name: str) -> None:
    with pytest.raises(BedsError) as raised:
        mongodb.query_filter(item, {name: "x"})

    assert (raised.value.code, raised.value.message) == (
        ErrorCode.VALIDATION_FAILED,
        f"template 'contract_item': unknown field {name!r}",
    )


def test_a_datetime_query_value_is_compared_as_a_utc_date(item: Template) -> None:
    built = mongodb.query_filter(item, {"due": "2026-03-01T12:00:00.123999+02:00"})

    assert built == {"cti_due": {"$eq": datetime(2026, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)}}
    with pytest.raises(BedsError) as raised:
        mongodb.query_filter(item, {"due": "yesterday"})
    assert raised.value.code == ErrorCode.VALIDATION_FAILED


def test_the_projection_is_the_template_keys_only(item: Template) -> None:
    assert mongodb.projection(item) == {
        "_id": 1,
        "cti_code": 1,
        "cti_label": 1,
        "cti_score": 1,
        "cti_ratio": 1,
        "cti_active": 1,
        "cti_due": 1,
    }


# --- documents and records ---------------------------------------------------------------


def test_a_create_document_uses_internal_names_and_the_guid_as_id(item: Template) -> None:
    values = {
        "guid": GUID,
        "code": "$where",
        "label": None,
        "score": 7,
        "ratio": 2,
        "active": False,
        "due": "2026-03-01T23:30:00.250999-05:00",
    }

    doc = mongodb.document(item, values)

    assert doc == {
        "_id": GUID,
        "cti_code": "$where",  # data, stored verbatim
        "cti_score": 7,
        "cti_ratio": 2.0,
        "cti_active": False,
        "cti_due": datetime(2026, 3, 2, 4, 30, 0, 250000, tzinfo=UTC),
    }  # null label left out: it reads back as null
    assert type(doc["cti_ratio"]) is float


def test_a_create_without_its_guid_is_refused(item: Template) -> None:
    with pytest.raises(BedsError) as raised:
        mongodb.document(item, {"code": "x"})

    assert raised.value.code == ErrorCode.INTERNAL_ERROR
    assert "without its BEDS-assigned guid" in raised.value.message


def test_an_update_sets_only_non_null_values_and_never_the_guid(item: Template) -> None:
    values = {"guid": "other", "label": None, "score": 0, "active": False, "due": "2026-01-01"}

    assert mongodb.changes(item, values) == {
        "cti_score": 0,
        "cti_active": False,
        "cti_due": datetime(2026, 1, 1, tzinfo=UTC),
    }
    assert mongodb.changes(item, {"label": None}) == {}


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 1, 10, 0),
        datetime(2026, 3, 2, 4, 30, 0, 250000),
        datetime(1999, 12, 31, 23, 59, 59, 999000),
    ],
    ids=["whole-second", "fraction", "last-millisecond"],
)
def test_a_record_is_what_the_mariadb_adapter_returns_for_the_same_row(
    item: Template, moment: datetime
) -> None:
    doc = {
        "_id": GUID,
        "cti_code": "c",
        "cti_score": Int64(7),
        "cti_ratio": 0.25,
        "cti_active": True,
        "cti_due": moment.replace(tzinfo=UTC),  # a tz_aware client reads BSON dates so
        "cti_secret": "a column the template does not name",
    }
    row = {
        "cti_guid": GUID,
        "cti_code": "c",
        "cti_label": None,
        "cti_score": 7,
        "cti_ratio": 0.25,
        "cti_active": 1,
        "cti_due": moment,  # MariaDB DATETIME(3) reads as naive UTC
    }

    record = mongodb.record(item, doc)

    assert record == mariadb._record(item, row)
    assert record["due"] == moment.isoformat()
    assert type(record["score"]) is int and record["label"] is None
    assert "secret" not in record and not any(k.startswith("cti_") for k in record)


def test_a_date_in_another_zone_is_returned_as_utc(item: Template) -> None:
    east = timezone(timedelta(hours=2))

    record = mongodb.record(item, {"_id": GUID, "cti_due": datetime(2026, 3, 1, 12, tzinfo=east)})

    assert record["due"] == "2026-03-01T10:00:00"


# --- errors --------------------------------------------------------------------------------


TOPOLOGY = (
    "127.0.0.1:1: [Errno 111] Connect call failed ('127.0.0.1', 1), Timeout: 1.0s, "
    "Topology Description: <TopologyDescription id: 1, topology_type: Unknown, servers: []>"
)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (
            ServerSelectionTimeoutError(TOPOLOGY),
            "127.0.0.1:1: [Errno 111] Connect call failed ('127.0.0.1', 1)",
        ),
        (AutoReconnect("connection closed"), "connection closed"),
        (NetworkTimeout("timed out"), "timed out"),
        (NotPrimaryError("not primary"), "not primary"),
        (WaitQueueTimeoutError("pool exhausted"), "pool exhausted"),
        (ExecutionTimeout("operation exceeded time limit", 50), "operation exceeded time limit"),
    ],
    ids=["selection-timeout", "auto-reconnect", "network-timeout", "not-primary", "pool", "time"],
)
def test_an_unreachable_server_is_backend_unavailable_naming_host_and_port(
    exc: PyMongoError, reason: str
) -> None:
    error = translated(exc)

    assert (error.code, error.message) == (
        ErrorCode.BACKEND_UNAVAILABLE,
        f"store 'main': MongoDB at {WHERE} unavailable: {reason}",
    )
    assert error.retryable


def test_a_duplicate_on_a_unique_index_is_a_conflict_in_external_names(item: Template) -> None:
    details = {
        "index": 0,
        "code": 11000,
        "errmsg": DUP_MESSAGE,
        "keyPattern": {"cti_code": 1},
        "keyValue": {"cti_code": "taken"},
    }

    single = translated(DuplicateKeyError(DUP_MESSAGE, 11000, details), item)
    bulk = translated(BulkWriteError({"writeErrors": [details], "nInserted": 2}), item)

    expected = (
        "duplicate value: code = 'taken' is already used (unique index 'uq_contract_item_code')"
    )
    assert (single.code, single.message) == (ErrorCode.CONFLICT, expected)
    assert (bulk.code, bulk.message) == (ErrorCode.CONFLICT, expected)


def test_a_document_the_validator_refuses_is_validation_failed(item: Template) -> None:
    info = {
        "failingDocumentId": GUID,
        "details": {
            "operatorName": "$jsonSchema",
            "schemaRulesNotSatisfied": [
                {
                    "operatorName": "properties",
                    "propertiesNotSatisfied": [
                        {"propertyName": "cti_score", "details": [{"reason": "type did not match"}]}
                    ],
                },
                {"operatorName": "required", "missingProperties": ["cti_code"]},
            ],
        },
    }
    exc = WriteError("Document failed validation", 121, {"code": 121, "errInfo": info})

    error = translated(exc, item)

    assert (error.code, error.message) == (
        ErrorCode.VALIDATION_FAILED,
        "the store refused the values (template 'contract_item', collection 'contract_items'): "
        "the DBA's validator does not accept field(s) code, score",
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            OperationFailure("Authentication failed.", 18),
            f"store 'main': MongoDB at {WHERE} refused the login — check the user and "
            "password of stores.main (MongoDB users authenticate against `admin`)",
        ),
        (
            OperationFailure("not authorized on beds to execute command { insert }", 13),
            f"store 'main': MongoDB at {WHERE} denied the operation: not authorized on beds to "
            "execute command { insert } — grant the store's user readWrite on its database",
        ),
        (
            OperationFailure("Unrecognized expression", 168, {"errmsg": "x"}),
            f"MongoDB error 168 on store 'main' at {WHERE}: Unrecognized expression — check the "
            "server log and that the collection, its validator and its indexes are what the "
            "template expects",
        ),
        (
            InvalidDocument("cannot encode object: Ellipsis"),
            f"MongoDB error InvalidDocument on store 'main' at {WHERE}: cannot encode object: "
            "Ellipsis — check the server log and that the collection, its validator and its "
            "indexes are what the template expects",
        ),
    ],
    ids=["login", "role", "other", "unencodable"],
)
def test_anything_else_is_internal_error_saying_what_to_check(
    exc: PyMongoError | InvalidDocument, expected: str
) -> None:
    error = translated(exc)

    assert (error.code, error.message) == (ErrorCode.INTERNAL_ERROR, expected)


# --- client options and config --------------------------------------------------------------


def test_client_options_come_from_the_store_config() -> None:
    cfg = StoreConfig.model_validate(
        {
            "kind": "mongodb",
            "pool_size": 7,
            "connect_timeout_s": 2.5,
            "master": {"host": "db1", "database": "beds"},
            "secondary": {"host": "db2", "database": "beds", "user": "u", "password": "p"},
        }
    )
    assert cfg.secondary is not None

    master = mongodb.client_options(cfg, cfg.master, direct=False)
    secondary = mongodb.client_options(cfg, cfg.secondary, direct=True)

    assert master == {
        "host": "db1",
        "port": 27017,
        "tz_aware": True,
        "serverSelectionTimeoutMS": 2500,
        "connectTimeoutMS": 2500,
        "maxPoolSize": 7,
        "appname": "beds",
        "directConnection": False,
    }  # no user: no authentication at all
    assert secondary == {
        **master,
        "host": "db2",
        "directConnection": True,
        "username": "u",
        "password": "p",
    }


def test_a_mongodb_endpoint_defaults_to_port_27017_and_no_user() -> None:
    cfg = StoreConfig.model_validate(
        {
            "kind": "mongodb",
            "master": {"database": "beds"},
            "secondary": {"port": 27018, "database": "beds"},
        }
    )

    assert (cfg.master.host, cfg.master.port, cfg.master.user) == ("127.0.0.1", 27017, "")
    assert cfg.secondary is not None and (cfg.secondary.port, cfg.secondary.user) == (27018, "")


def test_preflight_probes_a_mongodb_master_on_its_default_port() -> None:
    cfg = BedsConfig.model_validate(
        {
            "roles": {"appServer": {}},
            "stores": {"docs": {"kind": "mongodb", "master": {"host": "db", "database": "beds"}}},
        }
    )

    assert [(t.service, t.where, t.required) for t in targets(cfg)][1:] == [
        ("mongodb stores.docs.master", "db:27017", True)
    ]


def test_a_mariadb_endpoint_is_unchanged_port_3306_and_user_required() -> None:
    cfg = StoreConfig.model_validate(
        {"kind": "mariadb", "master": {"user": "beds", "database": "beds"}}
    )
    with pytest.raises(ValidationError) as raised:
        StoreConfig.model_validate({"kind": "mariadb", "master": {"database": "beds"}})

    assert cfg.master.port == 3306
    [error] = raised.value.errors()
    assert (error["loc"], error["type"]) == (("master", "user"), "missing")


# --- the template key `collection` ----------------------------------------------------------


def test_a_template_collection_defaults_to_its_name(write_template: WriteTemplate) -> None:
    path = write_template()
    write_template("named_rec.toml", name="named", top='collection = "named_things"')

    registry = load_registry(path.parent)

    assert registry.templates["widget"].collection == "widget"
    assert registry.templates["named"].collection == "named_things"


def test_a_collection_must_be_a_plain_identifier(write_template: WriteTemplate) -> None:
    path = write_template(top='collection = "system.users"')

    with pytest.raises(
        TemplateError, match=r"collection 'system\.users' must be a plain identifier"
    ):
        load_registry(path.parent)


# --- no server at all ---------------------------------------------------------------------


async def test_without_any_server_start_succeeds_and_calls_are_backend_unavailable(
    item: Template,
) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    cfg = StoreConfig.model_validate(
        {"kind": "mongodb", "connect_timeout_s": 0.5, "master": {"port": port, "database": "x"}}
    )
    adapter = mongodb.MongoDbAdapter("main", cfg)

    await adapter.start()  # must not fail: the store may come back
    try:
        with pytest.raises(BedsError) as pinged:
            await adapter.ping()
        with pytest.raises(BedsError) as created:
            await adapter.create(item, {"guid": GUID, "code": "c"})
    finally:
        await adapter.stop()

    prefix = f"store 'main': MongoDB at 127.0.0.1:{port}/x unavailable: 127.0.0.1:{port}: "
    for raised in (pinged, created):
        assert raised.value.code == ErrorCode.BACKEND_UNAVAILABLE
        assert raised.value.message.startswith(prefix), raised.value.message
