"""Wire contract: decode_request turns every bad body into malformed_request; replies encode."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import orjson
import pytest

from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.core.payload import EVENT_ID_PATTERN, decode_request, error_reply, ok_reply
from beds_actors.events.ids import new_root

LIMIT = 1_048_576


def body(**fields) -> bytes:
    return orjson.dumps({"template": "customer", "op": "fetch", **fields})


def malformed(raw: bytes, max_bytes: int = LIMIT) -> str:
    """Decode `raw`, expecting malformed_request; return the message."""
    with pytest.raises(BedsError) as info:
        decode_request(raw, max_bytes)
    assert info.value.code == ErrorCode.MALFORMED_REQUEST
    return info.value.message


def test_minimal_request_decodes_with_defaults():
    req = decode_request(b'{"template": "customer", "op": "fetch"}', LIMIT)
    assert (req.template, req.op, req.data, req.query, req.limit, req.v) == (
        "customer",
        "fetch",
        {},
        {},
        None,
        1,
    )


def test_full_request_keeps_every_key():
    req = decode_request(
        body(data={"name": "Ann"}, query={"guid": "g"}, limit=5, event_id="a:1", v=1), LIMIT
    )
    assert (req.data, req.query, req.limit, req.event_id) == (
        {"name": "Ann"},
        {"guid": "g"},
        5,
        "a:1",
    )


NESTED = b'{"template": "c", "op": "fetch", "data": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}"


@pytest.mark.parametrize(
    ("raw", "mentions"),
    [
        (b"not json", "Invalid JSON"),
        (b"", "Invalid JSON"),
        (b"[]", "body"),
        (b'"customer"', "body"),
        (b'{"op": "fetch"}', "template"),
        (b'{"template": "customer"}', "op"),
        (b'{"template": 5, "op": "fetch"}', "template"),
        (b'{"template": "", "op": "fetch"}', "template"),
        (body(lmit=5), "lmit: unknown key"),
        (body(data=[1]), "data"),
        (body(limit="5"), "limit"),
        (body(limit=0), "limit"),
        (body(v=2), "v"),
        (b'{"template": "\xff\xfe", "op": "fetch"}', "Invalid JSON"),
        (b"\xff\xfe\x00", "Invalid JSON"),
        (NESTED, "Invalid JSON"),
        (b"[" * 5000 + b"]" * 5000, "Invalid JSON"),
    ],
)
def test_bad_body_is_malformed_request(raw, mentions):
    assert mentions in malformed(raw)


def test_oversized_body_names_the_limit_key():
    raw = body(data={"name": "x" * 300})
    message = malformed(raw, max_bytes=len(raw) - 1)
    assert "limits.max_body_bytes" in message
    assert str(len(raw) - 1) in message


def test_body_exactly_at_the_limit_is_accepted():
    raw = body()
    assert decode_request(raw, max_bytes=len(raw)).template == "customer"


@pytest.mark.parametrize(
    "event_id", ["a", "appServer.rBroker:18c2f9a0b1c2d-5e1f09aa-000001", "x" * 128]
)
def test_valid_event_ids_are_accepted(event_id):
    req = decode_request(body(event_id=event_id, parent_event_id=event_id), LIMIT)
    assert (req.event_id, req.parent_event_id) == (event_id, event_id)


@pytest.mark.parametrize("event_id", ["", "x" * 129, "has space", "a//b", "a/B", "a\nb", "é"])
@pytest.mark.parametrize("key", ["event_id", "parent_event_id"])
def test_invalid_event_ids_are_rejected(key, event_id):
    assert key in malformed(body(**{key: event_id}))


def test_a_client_event_id_is_a_root_and_a_parent_may_be_compound():
    assert "event_id" in malformed(body(event_id="root/a2"))
    req = decode_request(body(parent_event_id="root/a2/q19ad3f2c1b2e0"), LIMIT)
    assert req.parent_event_id == "root/a2/q19ad3f2c1b2e0"
    too_deep = "root" + "/a1" * 9
    assert "parent_event_id" in malformed(body(parent_event_id=too_deep))


def test_generated_event_ids_match_the_wire_pattern_and_differ():
    first, second = new_root(), new_root()
    assert re.fullmatch(EVENT_ID_PATTERN, first)
    assert first != second


def test_ok_reply_has_the_documented_keys():
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    reply = orjson.loads(ok_reply("e1", "p1", {"at": when, "price": Decimal("1.50")}))
    assert reply == {
        "status": "ok",
        "event_id": "e1",
        "parent_event_id": "p1",
        "data": {"at": "2024-05-01T12:00:00+00:00", "price": "1.50"},
    }


def test_error_reply_has_the_documented_keys():
    reply = orjson.loads(error_reply("e1", None, ErrorCode.NOT_FOUND, "no such customer"))
    assert reply == {
        "status": "error",
        "event_id": "e1",
        "parent_event_id": None,
        "error": {"code": "not_found", "message": "no such customer"},
    }
