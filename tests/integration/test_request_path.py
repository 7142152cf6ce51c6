"""One real request after another through the whole path: AMQP → broker → adapter → MariaDB."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest

from beds_actors.client import BedsClient, BedsClientError
from beds_actors.config import BedsConfig
from beds_actors.ipl import System
from beds_actors.testing import ReplyTap, count_rows, wait_until

pytestmark = pytest.mark.integration


async def create(client: BedsClient, **data: object) -> dict:
    reply = await client.call("customer", "create", data)
    assert reply["status"] == "ok", reply
    return reply["data"]


async def test_create_then_fetch_by_guid_round_trip(client: BedsClient) -> None:
    made = await create(client, name="Ada", email="ada@example.org")
    assert len(made["guid"]) == 32
    reply = await client.call("customer", "fetch", query={"guid": made["guid"]})
    assert reply["status"] == "ok"
    assert reply["data"] == [made]
    assert set(made) == {"guid", "name", "email", "created", "updated"}  # no internal columns


async def test_update_changes_only_given_fields(client: BedsClient) -> None:
    made = await create(client, name="Grace", email="grace@old.example")
    reply = await client.call(
        "customer", "update", {"email": "grace@new.example"}, {"guid": made["guid"]}
    )
    assert reply["status"] == "ok", reply
    assert reply["data"]["email"] == "grace@new.example"
    assert reply["data"]["name"] == "Grace"
    fetched = await client.call("customer", "fetch", query={"guid": made["guid"]})
    assert fetched["data"][0]["email"] == "grace@new.example"


async def test_delete_then_fetch_is_not_found(client: BedsClient) -> None:
    made = await create(client, name="Linus")
    deleted = await client.call("customer", "delete", query={"guid": made["guid"]})
    assert deleted["status"] == "ok"
    assert deleted["data"] == {"guid": made["guid"], "deleted": True}
    fetched = await client.call("customer", "fetch", query={"guid": made["guid"]})
    assert fetched["status"] == "error"
    assert fetched["error"]["code"] == "not_found"
    again = await client.call("customer", "delete", query={"guid": made["guid"]})
    assert again["error"]["code"] == "not_found"


async def test_update_of_unknown_guid_is_not_found(client: BedsClient) -> None:
    reply = await client.call("customer", "update", {"name": "x"}, {"guid": "0" * 32})
    assert reply["error"]["code"] == "not_found"


async def test_fetch_by_queryable_field_returns_matching_records(client: BedsClient) -> None:
    email = "shared@fetch.example"
    made = {(await create(client, name=f"F{i}", email=email))["guid"] for i in range(3)}
    reply = await client.call("customer", "fetch", query={"email": email})
    assert reply["status"] == "ok"
    assert {r["guid"] for r in reply["data"]} >= made
    limited = await client.call("customer", "fetch", query={"email": email}, limit=2)
    assert len(limited["data"]) == 2


async def test_sql_injection_text_is_stored_verbatim_and_harms_nothing(client: BedsClient) -> None:
    evil = f"Robert'); DROP TABLE customer; -- \" OR 1=1 /* {uuid.uuid4().hex}"
    made = await create(client, name=evil, email="x' OR '1'='1")
    fetched = await client.call("customer", "fetch", query={"name": evil})
    assert [r["guid"] for r in fetched["data"]] == [made["guid"]]
    assert fetched["data"][0]["email"] == "x' OR '1'='1"
    # the table is still there and still serves other records
    assert (await create(client, name="after"))["name"] == "after"


async def test_client_event_ids_are_kept_for_lineage(client: BedsClient) -> None:
    reply = await client.call(
        "customer", "create", {"name": "Lin"}, event_id="evt-child-1", parent_event_id="evt-root"
    )
    assert reply["event_id"] == "evt-child-1"
    assert reply["parent_event_id"] == "evt-root"
    assigned = await client.call("customer", "fetch", query={"name": "Lin"})
    assert re.fullmatch(r"[0-9a-f]{13}-[0-9a-f]{8}-[0-9a-f]{6}", assigned["event_id"])
    assert assigned["parent_event_id"] is None


@pytest.mark.parametrize(
    ("template", "op", "data", "query", "code"),
    [
        ("nope", "fetch", None, None, "unknown_template"),
        ("customer", "explode", None, None, "unknown_op"),
        ("customer", "create", {"email": "no-name@example"}, None, "validation_failed"),
        ("customer", "create", {"name": "x" * 101}, None, "validation_failed"),
        ("customer", "create", {"name": "x", "guid": "mine"}, None, "validation_failed"),
        ("customer", "fetch", None, {"$where": "1"}, "validation_failed"),
        ("customer", "fetch", None, {"name": {"$gt": ""}}, "validation_failed"),
        ("customer", "update", {"name": "x"}, None, "validation_failed"),
    ],
)
async def test_bad_requests_get_their_error_code_and_the_broker_keeps_serving(
    client: BedsClient, template: str, op: str, data: dict | None, query: dict | None, code: str
) -> None:
    broker = "wBroker" if op in ("create", "update") else "rBroker"
    reply = await client.call(template, op, data, query, broker=broker)
    assert reply["status"] == "error"
    assert reply["error"]["code"] == code, reply
    assert reply["error"]["message"]
    assert (await client.call("customer", "fetch", query={"name": "nobody"}))["status"] == "ok"


async def test_op_sent_to_the_wrong_broker_is_refused(client: BedsClient) -> None:
    reply = await client.call("customer", "create", {"name": "x"}, broker="rBroker")
    assert reply["error"]["code"] == "op_not_served"


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"[1, 2, 3]",
        b'{"op": "fetch"}',
        b'{"template": 5, "op": "fetch"}',
        b'{"template": "customer", "op": "fetch", "surprise": 1}',
        b"\xff\xfe\x00garbage",
        b"[" * 10_000,
        b'{"template": "customer", "op": "fetch", "query": {"name": "' + b"x" * 70_000 + b'"}}',
    ],
    ids=[
        "not-json",
        "array",
        "no-template",
        "int-template",
        "unknown-key",
        "bad-utf8",
        "deep-nesting",
        "oversized",
    ],
)
async def test_malformed_bodies_get_malformed_request_replies(
    client: BedsClient, body: bytes
) -> None:
    for broker in ("rBroker", "wBroker"):
        reply = await client.send(body, f"appServer.{broker}")
        assert reply["status"] == "error"
        assert reply["error"]["code"] == "malformed_request", reply
        assert reply["event_id"]
    assert (await client.call("customer", "fetch", query={"name": "nobody"}))["status"] == "ok"


async def test_the_same_create_message_delivered_twice_creates_one_record(
    client: BedsClient,
) -> None:
    body = b'{"template": "customer", "op": "create", "data": {"name": "Twice"}}'
    key = uuid.uuid4().hex
    first = await client.send(body, "appServer.wBroker", message_id=key)
    second = await client.send(body, "appServer.wBroker", message_id=key)
    assert first["status"] == second["status"] == "ok"
    assert first["data"]["guid"] == second["data"]["guid"]
    other = await client.send(body, "appServer.wBroker", message_id=uuid.uuid4().hex)
    assert other["data"]["guid"] != first["data"]["guid"]


async def test_a_request_to_an_unbound_routing_key_fails_fast(client: BedsClient) -> None:
    with pytest.raises(BedsClientError, match="no queue is bound"):
        await client.call("customer", "fetch", broker="noSuchBroker", timeout_s=5)


async def test_concurrent_fetches_by_guid_each_get_their_own_record(
    client: BedsClient, beds: System
) -> None:
    made = [await create(client, name=f"multi-{i}") for i in range(40)]
    missing = [uuid.uuid4().hex for _ in range(10)]
    guids = [m["guid"] for m in made] + missing
    broker = beds.brokers["beds/appServer/rBroker/0"]
    before = await broker.stats.remote()
    replies = await asyncio.gather(
        *(client.call("customer", "fetch", query={"guid": g}) for g in guids)
    )
    for reply, record in zip(replies, made, strict=False):
        assert reply["data"] == [record]
    assert [r["error"]["code"] for r in replies[len(made) :]] == ["not_found"] * len(missing)
    after = await broker.stats.remote()
    assert after["received"] - before["received"] == len(guids)
    # 50 concurrent reads share Ray hops (and, per batch, one multi-key read of the view)
    assert after["batches"] - before["batches"] <= len(guids) // 5


async def test_concurrent_creates_each_get_their_own_record(client: BedsClient) -> None:
    run = uuid.uuid4().hex[:8]
    # Creates of one batch go to the DBA's bulk procedure in one CALL; each still gets its row.
    replies = await asyncio.gather(
        *(client.call("customer", "create", {"name": f"bulk-{run}-{i}"}) for i in range(60))
    )
    assert [r["status"] for r in replies] == ["ok"] * 60
    assert sorted(r["data"]["name"] for r in replies) == sorted(
        f"bulk-{run}-{i}" for i in range(60)
    )
    assert len({r["data"]["guid"] for r in replies}) == 60


async def test_a_request_without_reply_to_is_executed_and_counted(
    beds: System, test_config: BedsConfig
) -> None:
    broker = beds.brokers["beds/appServer/wBroker/0"]
    before = await broker.stats.remote()
    name = f"fire-and-forget-{uuid.uuid4().hex}"
    main = test_config.stores["main"].master
    async with ReplyTap(test_config.amqp) as tap:
        body = {"template": "customer", "op": "create", "data": {"name": name}}
        await tap.publish("appServer.wBroker", body, reply=False)
        await wait_until(
            lambda: _one(count_rows(main, "v_customer", "cst_name", [name])),
            timeout_s=30,
            what="the fire-and-forget create's record",
        )
        after = await wait_until(
            lambda: _dropped_since(broker, before), timeout_s=30, what="reply counted as dropped"
        )
        assert not tap.replies
    assert after["dropped_no_reply_to"] == before["dropped_no_reply_to"] + 1
    assert after["replied_ok"] == before["replied_ok"]


async def _one(rows: Any) -> bool:
    return bool(await rows == [1])


async def _dropped_since(broker: Any, before: dict[str, int]) -> dict[str, int] | None:
    after: dict[str, int] = await broker.stats.remote()
    return after if after["dropped_no_reply_to"] > before["dropped_no_reply_to"] else None
