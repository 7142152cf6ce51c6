"""Retry with backoff, the DLQ, the poison guard and slow backends, on the session system."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from typing import Any

import pytest

from beds_actors.amqp import dlq as dlq_ops
from beds_actors.amqp.topology import connect, dlq_name
from beds_actors.client import BedsClient
from beds_actors.config import BedsConfig
from beds_actors.ipl import System
from beds_actors.testing import (
    ReplyTap,
    count_rows,
    queue_states,
    running_calls,
    statuses,
    steady_load,
    wait_until,
)
from tests.conftest import run_id

pytestmark = pytest.mark.integration


def sleeping(delay_ms: int) -> str:
    """How MariaDB's process list shows a slowpoke procedure asleep for `delay_ms`."""
    return f"NAME_CONST('p_delay_ms',{delay_ms})"


async def parked(cfg: BedsConfig, broker: str) -> list[dlq_ops.Parked]:
    connection = await connect(cfg.amqp, "test-dlq")
    try:
        return await dlq_ops.browse(connection, dlq_name(cfg.queue_name(broker)), 1000)
    finally:
        await connection.close()


async def test_backend_outage_is_retried_with_backoff_then_parked_with_its_reason(
    client: BedsClient, beds: System, test_config: BedsConfig
) -> None:
    broker = beds.brokers["beds/appServer/wBroker/0"]
    before = await broker.stats.remote()
    key = uuid.uuid4().hex
    body = b'{"template": "ghost", "op": "create", "data": {"name": "Casper"}}'
    started = time.monotonic()
    reply = await client.send(body, "appServer.wBroker", message_id=key)
    took = time.monotonic() - started
    assert reply["status"] == "error"
    assert reply["error"]["code"] == "backend_unavailable"
    assert "127.0.0.1:9" in reply["error"]["message"]
    assert "gave up after 3 attempts" in reply["error"]["message"]
    assert dlq_name(test_config.queue_name("wBroker")) in reply["error"]["message"]
    # Tries 2 and 3 waited out backoff_s = [0.2, 0.5] in the TTL retry queues.
    backoff = sum(test_config.retry.delay_ms(n) for n in (2, 3)) / 1000
    assert backoff == pytest.approx(0.7)
    assert took >= backoff, f"answered after {took:.2f} s, before the {backoff} s of backoff"
    after = await broker.stats.remote()
    assert after["retried"] - before["retried"] == 2
    mine = [p for p in await parked(test_config, "wBroker") if p.message_id == key]
    assert len(mine) == 1
    assert mine[0].reason == "backend_unavailable"
    assert mine[0].attempts == 3
    assert mine[0].body == body
    assert mine[0].parked_at


async def park_as_poison(tap: ReplyTap, count: int) -> list[str]:
    """Park `count` customer creates without running them: each says it came back 3 times."""
    cids = [
        await tap.publish(
            "appServer.wBroker",
            {"template": "customer", "op": "create", "data": {"name": f"poison-{run_id()}"}},
            headers={"x-beds-returns": 3},
        )
        for _ in range(count)
    ]
    await tap.wait_answered(cids, timeout_s=30)
    return cids


async def test_browsing_a_dlq_leaves_it_as_it_was(beds: System, test_config: BedsConfig) -> None:
    async with ReplyTap(test_config.amqp) as tap:
        mine = await park_as_poison(tap, 3)
    first = [p.message_id for p in await parked(test_config, "wBroker")]
    second = [p.message_id for p in await parked(test_config, "wBroker")]
    assert set(mine) <= set(first)
    assert first == second


async def test_a_request_stamped_as_returned_too_often_is_parked_as_poison(
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


async def _stats(handle: Any) -> dict[str, int] | None:
    """A broker's counters, or None while Ray restarts its process."""
    try:
        return dict(await asyncio.wait_for(handle.stats.remote(), 5))
    except Exception:
        return None


@pytest.mark.parametrize(
    ("broker", "op", "queue_type"),
    [("rBroker", "fetch", "quorum"), ("wBroker", "create", "classic")],
)
async def test_a_request_that_crashes_its_broker_every_time_is_parked_as_poison(
    beds: System, test_config: BedsConfig, broker: str, op: str, queue_type: str
) -> None:
    """A real crash loop: the broker dies with the request in hand, delivery after delivery."""
    assert test_config.queue_type(broker) == queue_type
    name = f"beds/appServer/{broker}/0"
    handle = beds.brokers[name]
    sent_batches = (await handle.stats.remote())["batches"]
    field = "data" if op == "create" else "query"
    body = {"template": "slowpoke", "op": op, field: {"delay_ms": 2500}}
    kills = 0
    async with ReplyTap(test_config.amqp) as tap:
        cid = await tap.publish(f"appServer.{broker}", body)

        async def holding_it() -> bool:
            # Past the redelivery guard and sent to the adapter: this process has it in hand.
            stats = await _stats(handle)
            return bool(tap.replies[cid]) or bool(
                stats and stats["batches"] > sent_batches and stats["inflight"] >= 1
            )

        while kills <= test_config.retry.max_deliveries:
            await wait_until(holding_it, timeout_s=60, what=f"{name} holding the request")
            if tap.replies[cid]:
                break
            os.kill(await handle.pid.remote(), signal.SIGKILL)
            kills += 1
            sent_batches = 0  # the restarted process counts from zero
        await tap.wait_answered([cid], timeout_s=30)
    reply = tap.replies[cid][0]
    deliveries = test_config.retry.max_deliveries + 1
    assert kills == test_config.retry.max_deliveries
    assert reply["status"] == "error" and reply["error"]["code"] == "internal_error"
    assert f"delivered {deliveries} times without being answered" in reply["error"]["message"]
    mine = [p for p in await parked(test_config, broker) if p.message_id == cid]
    assert [p.reason for p in mine] == ["poison_message"]
    # Counted by RabbitMQ (quorum) or by BEDS's re-stamping (classic); recorded when parked.
    assert mine[0].headers["x-beds-returns"] == test_config.retry.max_deliveries


async def test_slow_database_times_out_while_the_broker_keeps_serving(
    client: BedsClient, test_config: BedsConfig
) -> None:
    slow = asyncio.ensure_future(
        client.call("slowpoke", "fetch", query={"delay_ms": 5000}, timeout_s=60)
    )
    main = test_config.stores["main"].master
    await wait_until(
        lambda: running_calls(main, sleeping(5000)),
        timeout_s=30,
        what="the slow fetch running at the database",
    )
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


async def test_every_broker_queue_has_its_consumer(beds: System, test_config: BedsConfig) -> None:
    names = [test_config.queue_name(b) for b in ("rBroker", "wBroker")]
    states = await queue_states(test_config.amqp, names)
    assert [s.consumers if s else None for s in states.values()] == [1, 1]


async def test_a_client_that_leaves_before_its_reply_leaks_nothing(
    client: BedsClient, beds: System, test_config: BedsConfig
) -> None:
    broker = beds.brokers["beds/appServer/rBroker/0"]
    before = await broker.stats.remote()
    leaver = await BedsClient.from_config(test_config).connect()
    reply_queue = leaver._reply_queue.name if leaver._reply_queue else ""
    pending = asyncio.ensure_future(
        leaver.call("slowpoke", "fetch", query={"delay_ms": 1500}, timeout_s=30)
    )
    main = test_config.stores["main"].master
    await wait_until(
        lambda: running_calls(main, sleeping(1500)),
        timeout_s=30,
        what="the leaver's fetch running at the database",
    )
    await leaver.close()  # its exclusive reply queue goes with the connection
    with pytest.raises(Exception, match="closed"):
        await pending

    async def settled() -> dict[str, int] | None:
        after = await broker.stats.remote()
        done = after["replied_ok"] > before["replied_ok"] and after["inflight"] == 0
        return after if done else None

    after = await wait_until(settled, timeout_s=30, what="the leaver's request answered")
    assert after["replied_ok"] == before["replied_ok"] + 1  # published, dropped by RabbitMQ
    assert (await queue_states(test_config.amqp, [reply_queue]))[reply_queue] is None
    assert (await client.call("customer", "fetch", query={"name": "nobody"}))["status"] == "ok"


async def test_the_adapter_actor_killed_under_load_loses_no_request(
    client: BedsClient, beds: System, test_config: BedsConfig
) -> None:
    adapter = beds.adapters["main"][0]
    broker = beds.brokers["beds/appServer/wBroker/0"]
    before = await broker.stats.remote()
    names = [f"adapter-kill-{run_id()}-{i}" for i in range(300)]

    async def create(i: int) -> dict[str, Any]:
        return await client.call("customer", "create", {"name": names[i]}, timeout_s=60)

    load = asyncio.ensure_future(steady_load(create, seconds=3, per_second=100))
    await wait_until(lambda: load.done() or _started(broker, before), timeout_s=30, what="load")
    os.kill(await adapter.pid.remote(), signal.SIGKILL)
    replies = await asyncio.gather(*(await load))
    assert statuses(replies) == {"ok": len(names)}
    after = await broker.stats.remote()
    # The broker waited for Ray to restart the adapter: no retry spent, no request parked.
    assert after["retried"] == before["retried"]
    assert after["dead_lettered"] == before["dead_lettered"]
    assert after["replied_error"] == before["replied_error"]
    main = test_config.stores["main"].master
    assert await count_rows(main, "v_customer", "cst_name", names) == [1] * len(names)


async def _started(broker: Any, before: dict[str, int]) -> bool:
    return bool((await broker.stats.remote())["replied_ok"] >= before["replied_ok"] + 50)
