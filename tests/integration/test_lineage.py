"""Every request traceable root to leaf: events reach the logger store and come back as a chain."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from beds_actors.amqp import dlq as dlq_ops
from beds_actors.amqp.topology import connect, dlq_name
from beds_actors.client import BedsClient
from beds_actors.events.chain import build, fetch_chain, render, walk
from beds_actors.events.ids import root_of
from beds_actors.events.model import EVENTS_TYPE, encode
from beds_actors.ipl import System
from beds_actors.testing import ReplyTap, connection, count_rows, isolated_overrides, wait_until
from tests.conftest import beds_cli, load_test_config, run_id, running_beds

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]
# Purge every second what is older than a day: the test ages one event itself.
ENV = {
    **isolated_overrides("lineage"),
    "BEDS__EVENTS__RETENTION_DAYS": "1",
    "BEDS__EVENTS__PURGE_INTERVAL_S": "1",
}
CFG = load_test_config(**ENV)
Shape = set[tuple[str, str, str]]


@pytest.fixture(scope="module")
async def system() -> AsyncIterator[System]:
    async with running_beds(CFG) as running:
        yield running


@pytest.fixture(scope="module")
async def client(system: System) -> AsyncIterator[BedsClient]:
    async with BedsClient.from_config(CFG, timeout_s=60) as c:
        yield c


def shape(events: list[dict[str, Any]], root: str) -> Shape:
    """(id relative to the root, kind, status) of each event: `R/a2/b/c`, `db_call`, `ok`."""
    return {(e["event_id"].replace(root, "R", 1), e["kind"], e["status"]) for e in events}


async def chain(client: BedsClient, event_id: str, expected: Shape) -> list[dict[str, Any]]:
    """The trace of `event_id` once every expected event is stored (they arrive in batches)."""
    root = root_of(event_id)
    found: list[dict[str, Any]] = []

    async def complete() -> bool:
        found[:] = await fetch_chain(client, event_id)
        return expected <= shape(found, root)

    await wait_until(complete, timeout_s=30, what=f"trace of {event_id}", interval_s=0.2)
    return found


def served(kind: str = "request") -> Shape:
    """The steps of one answered delivery: request, batch, database call, reply."""
    return {
        ("R", kind, "ok"),
        ("R/b", "batch", "ok"),
        ("R/b/c", "db_call", "ok"),
        ("R/y", "reply", "ok"),
    }


async def test_a_create_and_a_fetch_are_traced_received_batch_db_call_reply(
    client: BedsClient,
) -> None:
    made = await client.call("customer", "create", {"name": f"traced-{run_id()}"})
    root = made["event_id"]
    events = await chain(client, root, served())
    assert shape(events, root) == served()
    by_kind = {e["kind"]: e for e in events}
    assert by_kind["db_call"]["detail"].startswith("sp_customer_create")
    assert by_kind["request"]["template"] == "customer" and by_kind["request"]["op"] == "create"
    assert by_kind["request"]["broker"] == "wBroker" and by_kind["request"]["node"] == "test"
    assert {e["root"] for e in events} == {root}
    # the same chain from a leaf
    leaf = next(e["event_id"] for e in events if e["kind"] == "db_call")
    assert shape(await fetch_chain(client, leaf), root) == served()
    # nested and timed: the database call lies within the batch, the batch within the request
    tops = build(events)
    assert [n.event["event_id"] for n in tops] == [root]
    assert [d for d, _ in walk(tops)] == [0, 1, 2, 1]
    request, batch = by_kind["request"], by_kind["batch"]
    assert request["started"] <= batch["started"] <= by_kind["db_call"]["started"]
    assert by_kind["db_call"]["ended"] <= batch["ended"] <= request["ended"]

    fetched = await client.call("customer", "fetch", query={"guid": made["data"]["guid"]})
    events = await chain(client, fetched["event_id"], served())
    db = next(e for e in events if e["kind"] == "db_call")
    assert db["detail"].startswith("v_customer: 1 row(s)")
    assert {e["broker"] for e in events} == {"rBroker"}


async def test_a_request_retried_twice_then_answered_has_every_attempt_under_its_root(
    client: BedsClient,
) -> None:
    reply = await client.call("flaky", "create", {"name": f"flaky-{run_id()}", "fails": 2})
    assert reply["status"] == "ok"
    root = reply["event_id"]
    expected = {
        ("R", "request", "retry"),
        ("R/b/c", "db_call", "error"),
        ("R/s", "retry", "retry"),
        ("R/a2", "request", "retry"),
        ("R/a2/b/c", "db_call", "error"),
        ("R/a2/s", "retry", "retry"),
        ("R/a3", "request", "ok"),
        ("R/a3/b/c", "db_call", "ok"),
        ("R/a3/y", "reply", "ok"),
    }
    events = await chain(client, root, expected)
    assert {s for s in shape(events, root) if s[1] != "batch"} == expected
    assert {e["attempt"] for e in events} == {1, 2, 3}
    assert {e["code"] for e in events if e["status"] == "retry"} == {"backend_unavailable"}
    # from the last attempt's leaf, the same whole tree
    assert len(await fetch_chain(client, f"{root}/a3/b/c")) == len(events)


async def test_a_dead_lettered_request_replayed_with_the_cli_stays_in_its_trace(
    client: BedsClient,
) -> None:
    # 4 failures: 3 attempts are spent and it is parked; the replay's 2nd attempt succeeds.
    key = uuid.uuid4().hex
    body = {"template": "flaky", "op": "create", "data": {"name": f"dlq-{key}", "fails": 4}}
    parked = await client.send(orjson.dumps(body), "appServer.wBroker", message_id=key)
    assert parked["error"]["code"] == "backend_unavailable"
    root = parked["event_id"]
    await chain(client, root, {("R/a3/d", "dead_lettered", "parked")})
    replayed = await asyncio.to_thread(beds_cli, "dlq", "replay", "wBroker", **ENV)
    assert replayed.returncode == 0 and "replayed 1 request(s)" in replayed.stdout
    expected = {
        ("R", "request", "retry"),
        ("R/a2", "request", "retry"),
        ("R/a3", "request", "error"),
        ("R/a3/d", "dead_lettered", "parked"),
        ("R/a3/y", "reply", "ok"),
        ("R/p1", "request", "retry"),
        ("R/p1/a2", "request", "ok"),
        ("R/p1/a2/y", "reply", "ok"),
    }
    events = await chain(client, root, expected)
    assert expected <= shape(events, root)
    assert [e["event_id"] for e in events if e["kind"] == "request" and e["status"] == "ok"] == [
        f"{root}/p1/a2"
    ]


async def test_a_client_parent_event_id_puts_the_request_in_the_clients_trace(
    client: BedsClient,
) -> None:
    first = await client.call("customer", "create", {"name": f"parent-{run_id()}"})
    parent = first["event_id"]
    second = await client.call(
        "customer", "fetch", query={"guid": first["data"]["guid"]}, parent_event_id=parent
    )
    child = second["event_id"]
    assert second["parent_event_id"] == parent
    assert child.startswith(f"{parent}/q") and root_of(child) == parent
    qseg = child.removeprefix(f"{parent}/")
    under_parent = {(f"R/{qseg}{rel[1:]}", kind, status) for rel, kind, status in served()}
    events = await chain(client, child, served() | under_parent)
    tops = build(events)
    assert [n.event["event_id"] for n in tops] == [parent]
    assert child in {c.event["event_id"] for c in tops[0].children}


async def test_a_traceparent_header_records_the_opentelemetry_trace_id(
    client: BedsClient,
) -> None:
    trace_id = uuid.uuid4().hex
    body = {"template": "customer", "op": "create", "data": {"name": f"otel-{run_id()}"}}
    reply = await client.send(
        orjson.dumps(body),
        "appServer.wBroker",
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    root = reply["event_id"]
    events = await chain(client, root, served())
    assert {e["trace_id"] for e in events} == {trace_id}
    found = await client.send(
        orjson.dumps({"template": "mst_logger", "op": "fetch", "query": {"trace_id": trace_id}}),
        "admin.adminBrokerOut",
    )
    assert {e["event_id"] for e in found["data"]} == {e["event_id"] for e in events}


async def test_beds_trace_prints_the_chain_with_durations(client: BedsClient) -> None:
    made = await client.call("customer", "create", {"name": f"cli-{run_id()}"})
    root = made["event_id"]
    events = await chain(client, root, served())
    done = await asyncio.to_thread(beds_cli, "trace", f"{root}/b/c", **ENV)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == render(build(events))
    assert [line.split()[4] for line in lines] == ["request", "batch", "db_call", "reply"]
    as_json = await asyncio.to_thread(beds_cli, "trace", root, "--json", **ENV)
    assert {e["event_id"] for e in orjson.loads(as_json.stdout)} == {e["event_id"] for e in events}
    missing = await asyncio.to_thread(beds_cli, "trace", "nothing-here", "--wait", "0", **ENV)
    assert missing.returncode == 1 and "no events stored" in missing.stderr


async def test_the_admin_role_purges_events_older_than_the_retention(
    client: BedsClient, system: System
) -> None:
    logs = CFG.stores["logs"].master
    old, fresh = f"old-{run_id()}", await client.call("customer", "create", {"name": "kept"})
    await chain(client, fresh["event_id"], served())
    # as the DBA would: an event from long ago
    async with connection(logs) as conn, conn.cursor() as cur:
        aged = {
            "guid": uuid.uuid4().hex, "event_id": old, "root": old, "kind": "system",
            "node": "test", "op": "aged", "status": "ok",
            "started": "2020-01-01 00:00:00.000000", "ended": "2020-01-01 00:00:00.000001",
        }  # fmt: skip
        await cur.execute("CALL sp_mst_logger_write_many(%s)", (orjson.dumps([aged]).decode(),))
    await wait_until(
        lambda: _equals(count_rows(logs, "v_mst_logger", "lgr_root", [old]), [0]),
        timeout_s=30,
        what="the aged event purged",
    )
    assert await count_rows(logs, "v_mst_logger", "lgr_root", [fresh["event_id"]]) == [4]
    assert system.retention is not None and system.retention.purged >= 1


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_clients_cannot_write_the_logger_store_through_the_app_brokers(
    client: BedsClient,
) -> None:
    fake = {"event_id": "forged", "root": "forged", "kind": "request", "started": "2026-01-01"}
    refused = await client.call("mst_logger", "create", fake)
    assert refused["error"]["code"] == "unknown_template"
    known = refused["error"]["message"].split("known:", 1)[1]
    assert "customer" in known and "mst_logger" not in known  # internal: not even listed
    # a body dressed as an events batch, sent to an app broker: an ordinary (bad) request
    dressed = await client.send(encode([]), "appServer.wBroker", type=EVENTS_TYPE, timeout_s=30)
    assert dressed["error"]["code"] == "malformed_request"


async def test_a_bad_events_batch_is_parked_in_the_logs_brokers_dlq(system: System) -> None:
    async with ReplyTap(CFG.amqp) as tap:
        await tap.publish(
            "admin.adminLogsBroker", b'{"v": 1, "events": [["x"]]}', reply=False, type=EVENTS_TYPE
        )
    parked: list[Any] = []

    async def in_dlq() -> bool:
        connection = await connect(CFG.amqp, "test-lineage-dlq")
        try:
            queue = dlq_name(CFG.queue_name("adminLogsBroker", "admin"))
            parked[:] = await dlq_ops.browse(connection, queue, 10)
        finally:
            await connection.close()
        return bool(parked)

    await wait_until(in_dlq, timeout_s=30, what="the bad batch parked")
    assert parked[0].reason == "malformed_request"
    assert "events[0]: expected a list of 19 values" in parked[0].error
