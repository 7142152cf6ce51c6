"""build_call against the shipped customer template: accepted calls and validation_failed."""

from __future__ import annotations

import re

import pytest

from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.core.payload import Request
from beds_actors.core.validation import build_call

GUID = "0123456789abcdef0123456789abcdef"
MAX_ROWS = 1000


def call(customer, op, max_rows=MAX_ROWS, **fields):
    return build_call(customer, Request(template="customer", op=op, **fields), max_rows)


def rejected(customer, op, **fields) -> str:
    """Build the call expecting validation_failed; return the message."""
    with pytest.raises(BedsError) as info:
        call(customer, op, **fields)
    assert info.value.code == ErrorCode.VALIDATION_FAILED
    return info.value.message


def test_create_assigns_a_fresh_hex_guid_and_keeps_values(customer):
    data = {"name": "Ann", "email": "ann@example.com"}
    first, second = call(customer, "create", data=data), call(customer, "create", data=data)
    assert re.fullmatch(r"[0-9a-f]{32}", first.values["guid"])
    assert first.values["guid"] != second.values["guid"]
    assert (first.op, {k: v for k, v in first.values.items() if k != "guid"}) == ("create", data)


def test_name_at_max_length_is_accepted(customer):
    assert call(customer, "create", data={"name": "x" * 100}).values["name"] == "x" * 100


def test_sql_injection_text_is_accepted_verbatim(customer):
    # Bound parameters stop injection; validation must not mangle or reject the value.
    evil = "x'); DROP TABLE customer; --"
    assert call(customer, "create", data={"name": evil}).values["name"] == evil


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, "data.name: required"),
        ({"name": None}, "data.name: must not be null"),
        ({"name": "x" * 101}, "data.name: too long (101 > max_length 100)"),
        ({"name": "a", "colour": "red"}, "data.colour: unknown field"),
        ({"name": "a", "guid": GUID}, "data.guid: read-only field"),
        ({"name": "a", "created": "2024-01-01T00:00:00"}, "data.created: read-only field"),
        ({"name": 5}, "data.name: expected a string, got int"),
        ({"name": True}, "data.name: expected a string, got bool"),
        ({"name": "a", "email": ["a@b.c"]}, "data.email: expected a string, got list"),
        ({"name": "a", "$where": "1 = 1"}, "data.$where: unknown field"),
        ({"name": {"$gt": ""}}, "data.name: expected a string, got dict"),
    ],
)
def test_bad_create_data_is_rejected(customer, data, expected):
    assert expected in rejected(customer, "create", data=data)


def test_create_takes_no_query(customer):
    assert "create takes no query" in rejected(
        customer, "create", data={"name": "a"}, query={"guid": GUID}
    )


def test_every_problem_is_listed_in_one_message(customer):
    message = rejected(customer, "create", data={"name": 5, "colour": "red", "guid": GUID})
    assert message.startswith("template 'customer': ")
    for part in ("data.name: expected a string", "data.colour: unknown", "data.guid: read-only"):
        assert part in message


@pytest.mark.parametrize(
    "query", [{"guid": GUID}, {"name": "Ann"}, {"email": "ann@example.com"}, {}]
)
def test_fetch_by_queryable_fields(customer, query):
    result = call(customer, "fetch", query=query)
    assert (result.op, dict(result.query), dict(result.values)) == ("fetch", query, {})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"query": {"created": "2024-01-01"}}, "query.created: not a queryable field"),
        ({"query": {"$gt": 1}}, "query.$gt: not a queryable field"),
        ({"query": {"name": {"$gt": ""}}}, "query.name: expected a string, got dict"),
        ({"query": {"name": None}}, "query.name: must not be null"),
        ({"data": {"name": "a"}}, "data: fetch takes no data"),
    ],
)
def test_bad_fetch_is_rejected(customer, fields, expected):
    assert expected in rejected(customer, "fetch", **fields)


@pytest.mark.parametrize(
    ("limit", "max_rows", "expected"),
    [(None, 1000, 100), (5, 1000, 5), (500, 1000, 100), (50, 10, 10), (None, 7, 7)],
)
def test_fetch_limit_is_clamped(customer, limit, max_rows, expected):
    assert call(customer, "fetch", max_rows=max_rows, limit=limit).limit == expected


def test_update_addresses_one_record_by_guid(customer):
    result = call(customer, "update", query={"guid": GUID}, data={"email": "new@example.com"})
    assert (result.op, dict(result.query), dict(result.values)) == (
        "update",
        {"guid": GUID},
        {"email": "new@example.com"},
    )


def test_update_may_clear_an_optional_field(customer):
    result = call(customer, "update", query={"guid": GUID}, data={"email": None})
    assert dict(result.values) == {"email": None}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"data": {"name": "a"}}, "query.guid: required"),
        ({"query": {"guid": 5}, "data": {"name": "a"}}, "query.guid: required"),
        ({"query": {"guid": "g" * 65}, "data": {"name": "a"}}, "query.guid: too long"),
        ({"query": {"guid": GUID, "name": "a"}, "data": {"name": "b"}}, "only 'guid'"),
        ({"query": {"guid": GUID}}, "data: give at least one field"),
        ({"query": {"guid": GUID}, "data": {"name": None}}, "data.name: must not be null"),
        ({"query": {"guid": GUID}, "data": {"guid": GUID}}, "data.guid: read-only"),
    ],
)
def test_bad_update_is_rejected(customer, fields, expected):
    assert expected in rejected(customer, "update", **fields)


def test_delete_addresses_one_record_by_guid(customer):
    result = call(customer, "delete", query={"guid": GUID})
    assert (result.op, dict(result.query), dict(result.values)) == ("delete", {"guid": GUID}, {})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "query.guid: required"),
        ({"query": {"name": "Ann"}}, "only 'guid'"),
        ({"query": {"guid": GUID}, "data": {"name": "a"}}, "data: delete takes no data"),
    ],
)
def test_bad_delete_is_rejected(customer, fields, expected):
    assert expected in rejected(customer, "delete", **fields)
