"""Faults on BEDS's own private RabbitMQ and MariaDB: every request answered or dead-lettered."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import pytest

from beds_actors.amqp import dlq as dlq_ops
from beds_actors.amqp.topology import connect, dlq_name
from beds_actors.client import BedsClient
from beds_actors.config import BedsConfig
from tests.conftest import load_test_config, running_beds
from tests.faults.services import PrivateMariaDB, PrivateRabbitMQ

pytestmark = pytest.mark.usefixtures("local_ray")


def isolated(tag: str, **env: str) -> BedsConfig:
    """A test config with its own exchange, queues and Ray namespace."""
    return load_test_config(
        BEDS__AMQP__EXCHANGE=f"beds_fault_{tag}",
        BEDS__AMQP__QUEUE_PREFIX=f"beds_fault_{tag}.",
        BEDS__RAY__NAMESPACE=f"beds_fault_{tag}",
        **env,
    )


def on_private_mariadb(db: PrivateMariaDB) -> dict[str, str]:
    return {
        "BEDS__STORES__MAIN__MASTER__PORT": str(db.port),
        "BEDS__STORES__MAIN__MASTER__DATABASE": db.database,
    }


async def steady_load(
    send: Callable[[int], Awaitable[dict[str, Any]]], seconds: float, per_second: int
) -> list[asyncio.Future[dict[str, Any]]]:
    """Start `per_second` requests a second for `seconds`; return their futures."""
    calls = []
    for i in range(int(seconds * per_second)):
        calls.append(asyncio.ensure_future(send(i)))
        await asyncio.sleep(1 / per_second)
    return calls


async def consumer_counts(cfg: BedsConfig) -> list[int]:
    connection = await aio_pika.connect(cfg.amqp.url)
    try:
        channel = await connection.channel()
        counts = []
        for broker in cfg.role.brokers:
            queue = await channel.declare_queue(cfg.queue_name(broker), passive=True)
            counts.append(queue.declaration_result.consumer_count)
        return counts
    finally:
        await connection.close()


async def one_record_each(client: BedsClient, names: list[str]) -> None:
    found = await asyncio.gather(
        *(client.call("customer", "fetch", query={"name": n}, retries=2) for n in names)
    )
    assert [len(f.get("data") or []) for f in found] == [1] * len(names)


async def test_rabbitmq_restart_under_load(private_rabbitmq: PrivateRabbitMQ) -> None:
    cfg = isolated("rabbit", BEDS__AMQP__PORT=str(private_rabbitmq.port))
    run = uuid.uuid4().hex[:8]
    async with running_beds(cfg) as beds, BedsClient.from_config(cfg, timeout_s=15) as client:
        names = [f"rabbit-{run}-{i}" for i in range(400)]

        async def create(i: int) -> dict[str, Any]:
            # A reply sent while the client's reply queue was gone is lost: resend, same ids.
            return await client.call("customer", "create", {"name": names[i]}, retries=4)

        load = asyncio.ensure_future(steady_load(create, seconds=8, per_second=50))
        await asyncio.sleep(1.5)
        await private_rabbitmq.arestart()  # stop + start: ~7 s without a broker
        calls = await load
        replies = await asyncio.gather(*calls)
        assert [r["status"] for r in replies] == ["ok"] * len(names)

        # the aio-pika trap: a robust reconnect that comes back without its consumers
        deadline = time.monotonic() + 30
        while await consumer_counts(cfg) != [1, 1]:
            assert time.monotonic() < deadline, await consumer_counts(cfg)
            await asyncio.sleep(0.5)
        await one_record_each(client, names)
        after = await client.call("customer", "create", {"name": f"after-{run}"})
        assert after["status"] == "ok"
        assert beds.supervisor is not None and sum(beds.supervisor.restarts.values()) == 0


async def test_mariadb_down_for_20s_under_load_is_retried_then_answered(
    private_mariadb: PrivateMariaDB,
) -> None:
    cfg = isolated(
        "db20",
        **on_private_mariadb(private_mariadb),
        BEDS__RETRY__MAX_ATTEMPTS="7",
        BEDS__RETRY__BACKOFF_S="[1, 2, 4, 8, 8]",  # 31 s of retries: longer than the outage
    )
    run = uuid.uuid4().hex[:8]
    async with running_beds(cfg) as beds, BedsClient.from_config(cfg, timeout_s=90) as client:
        names = [f"db-{run}-{i}" for i in range(250)]

        async def create(i: int) -> dict[str, Any]:
            return await client.call("customer", "create", {"name": names[i]})

        load = asyncio.ensure_future(steady_load(create, seconds=25, per_second=10))
        await asyncio.sleep(2)
        await private_mariadb.astop()
        stopped_at = time.monotonic()
        await asyncio.sleep(20)
        await private_mariadb.astart()
        outage = time.monotonic() - stopped_at
        replies = await asyncio.gather(*(await load))
        assert [r["status"] for r in replies] == ["ok"] * len(names), [
            r for r in replies if r["status"] != "ok"
        ][:3]
        stats = await beds.brokers["beds/appServer/wBroker/0"].stats.remote()
        assert stats["retried"] > 0 and stats["dead_lettered"] == 0
        assert outage >= 20
        await one_record_each(client, names)
        assert beds.supervisor is not None and sum(beds.supervisor.restarts.values()) == 0


async def test_mariadb_outage_longer_than_the_retry_budget_parks_requests(
    private_mariadb: PrivateMariaDB,
) -> None:
    cfg = isolated(
        "dbdlq",
        **on_private_mariadb(private_mariadb),
        BEDS__RETRY__MAX_ATTEMPTS="2",
        BEDS__RETRY__BACKOFF_S="[0.5]",
    )
    run = uuid.uuid4().hex[:8]
    names = [f"parked-{run}-{i}" for i in range(30)]
    async with running_beds(cfg), BedsClient.from_config(cfg, timeout_s=30) as client:
        await private_mariadb.astop()
        try:
            replies = await asyncio.gather(
                *(client.call("customer", "create", {"name": n}) for n in names)
            )
        finally:
            await private_mariadb.astart()
        assert {r["error"]["code"] for r in replies} == {"backend_unavailable"}
        assert all("parked in" in r["error"]["message"] for r in replies)

        connection = await connect(cfg.amqp, "test-fault-dlq")
        try:
            queue = cfg.queue_name("wBroker")
            parked = await dlq_ops.browse(connection, dlq_name(queue), 100)
            assert len(parked) == len(names)
            assert {p.reason for p in parked} == {"backend_unavailable"}
            assert {p.attempts for p in parked} == {2}
            # the database is back: an operator replays, and every parked request runs once
            assert await dlq_ops.replay(connection, dlq_name(queue), queue) == len(names)
        finally:
            await connection.close()
        deadline = time.monotonic() + 30
        while True:
            found = await asyncio.gather(
                *(client.call("customer", "fetch", query={"name": n}) for n in names)
            )
            if all(len(f["data"]) == 1 for f in found):
                break
            assert time.monotonic() < deadline, "replayed requests did not all run"
            await asyncio.sleep(0.5)
