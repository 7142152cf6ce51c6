"""Retry with backoff, the DLQ, the poison guard and slow backends, on the session system."""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import aio_pika
import pytest

from beds_actors.amqp import dlq as dlq_ops
from beds_actors.amqp.topology import connect, dlq_name
from beds_actors.client import BedsClient
from beds_actors.config import BedsConfig
from beds_actors.ipl import System
from tests.integration.test_lifecycle import BEDS, beds_env

pytestmark = pytest.mark.integration


async def parked(cfg: BedsConfig, broker: str) -> list[dlq_ops.Parked]:
    connection = await connect(cfg.amqp, "test-dlq")
    try:
        return await dlq_ops.browse(connection, dlq_name(cfg.queue_name(broker)), 1000)
    finally:
        await connection.close()


async def test_backend_outage_is_retried_then_parked_with_its_reason(
    client: BedsClient, beds: System, test_config: BedsConfig
) -> None:
    broker = beds.brokers["beds/appServer/wBroker/0"]
    before = await broker.stats.remote()
    key = uuid.uuid4().hex
    body = b'{"template": "ghost", "op": "create", "data": {"name": "Casper"}}'
    reply = await client.send(body, "appServer.wBroker", message_id=key)
    assert reply["status"] == "error"
    assert reply["error"]["code"] == "backend_unavailable"
    assert "127.0.0.1:9" in reply["error"]["message"]
    assert "gave up after 3 attempts" in reply["error"]["message"]
    assert dlq_name(test_config.queue_name("wBroker")) in reply["error"]["message"]
    after = await broker.stats.remote()
    assert after["retried"] - before["retried"] == 2
    mine = [p for p in await parked(test_config, "wBroker") if p.message_id == key]
    assert len(mine) == 1
    assert mine[0].reason == "backend_unavailable"
    assert mine[0].attempts == 3
    assert mine[0].body == body
    assert mine[0].parked_at


async def test_browsing_a_dlq_leaves_it_as_it_was(beds: System, test_config: BedsConfig) -> None:
    first = await parked(test_config, "wBroker")
    second = await parked(test_config, "wBroker")
    assert [p.message_id for p in first] == [p.message_id for p in second]


async def test_a_request_that_keeps_coming_back_is_parked_as_poison(
    client: BedsClient, test_config: BedsConfig
) -> None:
    key = uuid.uuid4().hex
    name = f"Poison-{key}"
    body = b'{"template": "customer", "op": "create", "data": {"name": "%s"}}' % name.encode()
    # As if three earlier deliveries had each died with their broker (classic-queue counter).
    reply = await client.send(
        body, "appServer.wBroker", message_id=key, headers={"x-beds-returns": 3}
    )
    assert reply["status"] == "error"
    assert "delivered 4 times without being answered" in reply["error"]["message"]
    mine = [p for p in await parked(test_config, "wBroker") if p.message_id == key]
    assert [p.reason for p in mine] == ["poison_message"]
    created = await client.call("customer", "fetch", query={"name": name})
    assert created == {**created, "status": "ok", "data": []}  # a parked request never ran


async def test_slow_database_times_out_while_the_broker_keeps_serving(
    client: BedsClient,
) -> None:
    slow = asyncio.ensure_future(
        client.call("slowpoke", "fetch", query={"delay_ms": 5000}, timeout_s=60)
    )
    await asyncio.sleep(0.3)  # the slow call is now running at the adapter
    for i in range(20):
        reply = await client.call("customer", "fetch", query={"name": f"nobody-{i}"})
        assert reply["status"] == "ok"
        assert not slow.done(), "the slow request finished before the fast ones"
    reply = await slow
    assert reply["error"]["code"] == "timeout"
    assert "limits.request_timeout_s" in reply["error"]["message"]
    assert "gave up after 3 attempts" in reply["error"]["message"]


async def test_slow_call_under_the_timeout_is_answered(client: BedsClient) -> None:
    reply = await client.call("slowpoke", "fetch", query={"delay_ms": 300})
    assert reply["status"] == "ok"
    assert reply["data"] == [{"guid": "slow", "delay_ms": 300}]


def beds_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**beds_env(), "COLUMNS": "250"}  # rich tables: no wrapping in the output
    for key in [k for k in env if k.startswith("BEDS__")]:
        del env[key]  # the session system's own exchange and queues
    return subprocess.run([BEDS, *args], env=env, capture_output=True, text=True, timeout=60)


async def test_dlq_commands_list_replay_and_purge(
    client: BedsClient, test_config: BedsConfig
) -> None:
    dlq = dlq_name(test_config.queue_name("wBroker"))
    connection = await connect(test_config.amqp, "test-dlq")
    try:
        await dlq_ops.purge(connection, dlq)  # only this test's requests from here on
    finally:
        await connection.close()
    body = b'{"template": "ghost", "op": "create", "data": {"name": "Boo"}}'
    for _ in range(3):
        await client.send(body, "appServer.wBroker", message_id=uuid.uuid4().hex)
    depth = ghosts = 3  # the ghost store is down for good: these fail again after a replay
    assert len(await parked(test_config, "wBroker")) == depth

    listed = await asyncio.to_thread(beds_cli, "dlq", "list", "wBroker")
    assert listed.returncode == 0, listed.stderr
    assert f"{dlq}: {depth} parked" in listed.stdout
    assert "backend_unavailable" in listed.stdout

    shown = await asyncio.to_thread(beds_cli, "dlq", "show", "wBroker", "--limit", "1")
    assert shown.returncode == 0 and '"reason"' in shown.stdout

    replayed = await asyncio.to_thread(beds_cli, "dlq", "replay", "wBroker")
    assert f"replayed {depth} request(s)" in replayed.stdout
    # the ghost store is still down: those requests are retried and parked again; others run
    for _ in range(100):
        if len(await parked(test_config, "wBroker")) == ghosts:
            break
        await asyncio.sleep(0.1)
    assert len(await parked(test_config, "wBroker")) == ghosts

    refused = await asyncio.to_thread(beds_cli, "dlq", "purge", "wBroker")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    purged = await asyncio.to_thread(beds_cli, "dlq", "purge", "wBroker", "--yes")
    assert f"purged {ghosts} request(s)" in purged.stdout
    assert await parked(test_config, "wBroker") == []


async def test_every_broker_queue_has_its_consumer(beds: System, test_config: BedsConfig) -> None:
    connection = await aio_pika.connect(test_config.amqp.url)
    try:
        channel = await connection.channel()
        for broker in ("rBroker", "wBroker"):
            queue = await channel.declare_queue(test_config.queue_name(broker), passive=True)
            assert queue.declaration_result.consumer_count == 1
    finally:
        await connection.close()


async def test_a_client_that_leaves_before_its_reply_leaks_nothing(
    client: BedsClient, beds: System, test_config: BedsConfig
) -> None:
    broker = beds.brokers["beds/appServer/rBroker/0"]
    before = await broker.stats.remote()
    leaver = await BedsClient.from_config(test_config).connect()
    reply_queue = leaver._reply_queue.name if leaver._reply_queue else ""
    pending = asyncio.ensure_future(
        leaver.call("slowpoke", "fetch", query={"delay_ms": 500}, timeout_s=30)
    )
    await asyncio.sleep(0.2)  # the request is at the adapter now
    await leaver.close()  # its exclusive reply queue goes with the connection
    with pytest.raises(Exception, match="closed"):
        await pending
    for _ in range(50):
        after = await broker.stats.remote()
        if after["received"] > before["received"] and after["inflight"] == 0:
            break
        await asyncio.sleep(0.1)
    assert after["replied_ok"] == before["replied_ok"] + 1  # published, dropped by RabbitMQ
    assert after["inflight"] == 0
    connection = await aio_pika.connect(test_config.amqp.url)
    try:
        channel = await connection.channel()
        with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
            await channel.declare_queue(reply_queue, passive=True)
    finally:
        await connection.close()
    assert (await client.call("customer", "fetch", query={"name": "nobody"}))["status"] == "ok"
