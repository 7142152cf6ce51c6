"""Faults on BEDS's own private RabbitMQ and MariaDB: every request answered or dead-lettered."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import orjson
import pytest

from beds_actors.amqp.topology import retry_queue_name
from beds_actors.client import BedsClient
from beds_actors.config import BedsConfig
from beds_actors.testing import (
    ReplyTap,
    count_rows,
    dlq_depths,
    isolated_overrides,
    queue_states,
    statuses,
    steady_load,
    wait_until,
)
from tests.conftest import beds_cli, isolated_config, load_test_config, run_id, running_beds
from tests.faults.services import PrivateMariaDB, PrivateRabbitMQ

pytestmark = pytest.mark.usefixtures("local_ray")
APP_BROKERS = [("appServer", "rBroker"), ("appServer", "wBroker")]
DB_OUTAGE_S = 20.0


def on_private_mariadb(db: PrivateMariaDB) -> dict[str, str]:
    return {
        "BEDS__STORES__MAIN__MASTER__PORT": str(db.port),
        "BEDS__STORES__MAIN__MASTER__DATABASE": db.database,
    }


def retry_budget_longer_than(outage_s: float) -> dict[str, str]:
    """Retry settings whose backoff adds up to well past `outage_s` (1.5x + 5 s)."""
    backoff, total = [1.0, 2.0, 4.0, 8.0], 0.0
    delays = []
    while total < outage_s * 1.5 + 5:
        delays.append(backoff[min(len(delays), len(backoff) - 1)])
        total += delays[-1]
    return {
        "BEDS__RETRY__MAX_ATTEMPTS": str(len(delays) + 1),
        "BEDS__RETRY__BACKOFF_S": str(delays),
    }


async def one_consumer_each(cfg: BedsConfig) -> bool:
    states = await queue_states(cfg.amqp, [cfg.queue_name(b, r) for r, b in APP_BROKERS])
    return [s.consumers if s else -1 for s in states.values()] == [1, 1]


async def test_rabbitmq_restart_under_load(private_rabbitmq: PrivateRabbitMQ) -> None:
    cfg = isolated_config("fault_rabbit", BEDS__AMQP__PORT=str(private_rabbitmq.port))
    run = run_id()
    async with running_beds(cfg) as beds, BedsClient.from_config(cfg, timeout_s=15) as client:
        names = [f"rabbit-{run}-{i}" for i in range(400)]

        async def create(i: int) -> dict[str, Any]:
            # A reply sent while the client's reply queue was gone is lost: resend, same ids.
            return await client.call("customer", "create", {"name": names[i]}, retries=4)

        load = asyncio.ensure_future(steady_load(create, seconds=8, per_second=50))
        await asyncio.sleep(1.5)  # the load is running when RabbitMQ goes away
        down_at = time.monotonic()
        await private_rabbitmq.arestart()
        back_at = time.monotonic()
        calls = await load
        replies = await asyncio.gather(*calls)
        answered_in = time.monotonic() - back_at
        print(
            f"\nRabbitMQ away {back_at - down_at:.1f} s; every request answered "
            f"{answered_in:.1f} s after it was back"
        )
        assert back_at - down_at > 2, "the restart was too quick to be a fault"
        assert statuses(replies) == {"ok": len(names)}
        assert answered_in < 60, "requests were not answered within 60 s of RabbitMQ's return"

        # the aio-pika trap: a robust reconnect that comes back without its consumers
        await wait_until(
            lambda: one_consumer_each(cfg), timeout_s=30, what="one consumer per queue again"
        )
        assert await dlq_depths(cfg, APP_BROKERS) == {
            "appServer.rBroker": 0,
            "appServer.wBroker": 0,
        }
        main = cfg.stores["main"].master
        assert await count_rows(main, "v_customer", "cst_name", names) == [1] * len(names)
        after = await client.call("customer", "create", {"name": f"after-{run}"})
        assert after["status"] == "ok"
        assert beds.supervisor is not None and sum(beds.supervisor.restarts.values()) == 0


async def test_mariadb_down_for_20s_under_load_is_retried_then_answered(
    private_mariadb: PrivateMariaDB,
) -> None:
    cfg = isolated_config(
        "fault_db20",
        **on_private_mariadb(private_mariadb),
        **retry_budget_longer_than(DB_OUTAGE_S),
    )
    run = run_id()
    async with running_beds(cfg) as beds, BedsClient.from_config(cfg, timeout_s=120) as client:
        names = [f"db-{run}-{i}" for i in range(250)]

        async def create(i: int) -> dict[str, Any]:
            return await client.call("customer", "create", {"name": names[i]})

        load = asyncio.ensure_future(steady_load(create, seconds=25, per_second=10))
        await asyncio.sleep(2)  # the load is running when the database goes away
        await private_mariadb.astop()
        await asyncio.sleep(DB_OUTAGE_S)
        await private_mariadb.astart()
        replies = await asyncio.gather(*(await load))
        assert statuses(replies) == {"ok": len(names)}, [r for r in replies if r["status"] != "ok"][
            :3
        ]
        stats = await beds.brokers["beds/appServer/wBroker/0"].stats.remote()
        assert stats["retried"] > 0 and stats["dead_lettered"] == 0
        assert await dlq_depths(cfg, APP_BROKERS) == {
            "appServer.rBroker": 0,
            "appServer.wBroker": 0,
        }
        main = cfg.stores["main"].master
        assert await count_rows(main, "v_customer", "cst_name", names) == [1] * len(names)
        assert beds.supervisor is not None and sum(beds.supervisor.restarts.values()) == 0


async def test_mariadb_outage_longer_than_the_retry_budget_parks_requests(
    private_mariadb: PrivateMariaDB,
) -> None:
    overrides = {
        **isolated_overrides("fault_dbdlq"),
        **on_private_mariadb(private_mariadb),
        "BEDS__RETRY__MAX_ATTEMPTS": "2",
        "BEDS__RETRY__BACKOFF_S": "[0.5]",
    }
    cfg = load_test_config(**overrides)
    names = [f"parked-{run_id()}-{i}" for i in range(30)]
    bodies = [{"template": "customer", "op": "create", "data": {"name": n}} for n in names]
    async with running_beds(cfg), ReplyTap(cfg.amqp) as tap:
        await private_mariadb.astop()
        try:
            cids = [await tap.publish("appServer.wBroker", body) for body in bodies]
            await tap.wait_answered(cids, timeout_s=60)
        finally:
            await private_mariadb.astart()
        first = [tap.replies[cid][0] for cid in cids]
        assert statuses(first) == {"backend_unavailable": len(names)}
        assert all("parked in" in r["error"]["message"] for r in first)
        assert await dlq_depths(cfg, APP_BROKERS) == {
            "appServer.rBroker": 0,
            "appServer.wBroker": len(names),
        }
        shown = await asyncio.to_thread(
            beds_cli, "dlq", "show", "wBroker", "--limit", "100", **overrides
        )
        parked = [orjson.loads(line) for line in shown.stdout.splitlines()]
        assert sorted(p["message_id"] for p in parked) == sorted(cids)
        assert {(p["reason"], p["attempts"]) for p in parked} == {("backend_unavailable", 2)}

        # The database is back: the operator replays, and every parked request runs once.
        replayed = await asyncio.to_thread(beds_cli, "dlq", "replay", "wBroker", **overrides)
        assert replayed.returncode == 0, replayed.stderr
        assert f"replayed {len(names)} request(s)" in replayed.stdout
        await wait_until(
            lambda: all(len(tap.replies[cid]) == 2 for cid in cids),
            timeout_s=60,
            what="a second reply for every replayed request",
        )
        assert statuses([tap.replies[cid][1] for cid in cids]) == {"ok": len(names)}
        assert await dlq_depths(cfg, APP_BROKERS) == {
            "appServer.rBroker": 0,
            "appServer.wBroker": 0,
        }
        main = cfg.stores["main"].master
        assert await count_rows(main, "v_customer", "cst_name", names) == [1] * len(names)


async def test_logger_store_down_for_20s_under_load_events_wait_then_all_arrive(
    private_mariadb: PrivateMariaDB,
) -> None:
    """The request path never waits for the logger store; its events wait in RabbitMQ."""
    cfg = isolated_config(
        "fault_logs",
        BEDS__STORES__LOGS__MASTER__PORT=str(private_mariadb.port),
        BEDS__STORES__LOGS__MASTER__DATABASE=private_mariadb.database,
    )
    run = run_id()
    logs_queue = cfg.queue_name("adminLogsBroker", "admin")
    async with running_beds(cfg) as beds, BedsClient.from_config(cfg, timeout_s=60) as client:
        names = [f"logs-{run}-{i}" for i in range(250)]
        took: list[float] = []

        async def create(i: int) -> dict[str, Any]:
            started = time.monotonic()
            reply = await client.call("customer", "create", {"name": names[i]})
            took.append(time.monotonic() - started)
            return reply

        load = asyncio.ensure_future(steady_load(create, seconds=25, per_second=10))
        await asyncio.sleep(2)  # the load is running when the logger store goes away
        await private_mariadb.astop()
        # Event batches wait in the logs queue and its retry (backoff) queues meanwhile.
        holding = [logs_queue, *(retry_queue_name(logs_queue, ms) for ms in cfg.retry.delays_ms())]
        waiting = 0
        for _ in range(int(DB_OUTAGE_S)):
            await asyncio.sleep(1)
            states = await queue_states(cfg.amqp, holding)
            waiting = max(waiting, sum(s.ready for s in states.values() if s))
        await private_mariadb.astart()
        replies = await asyncio.gather(*(await load))
        assert statuses(replies) == {"ok": len(names)}
        # Answered at full speed meanwhile: no reply waited on the store (the outage is 20 s).
        assert max(took) < 5, f"slowest request took {max(took):.1f} s"
        assert waiting > 0, "no event batch waited in the logs queue during the outage"
        roots = [r["event_id"] for r in replies]

        stored: list[int] = []

        async def all_stored() -> bool:
            stored[:] = await count_rows(private_logs(cfg), "v_mst_logger", "lgr_root", roots)
            return stored == [4] * len(roots)  # request, batch, db call, reply: each once

        await wait_until(
            all_stored,
            timeout_s=90,
            what=lambda: f"4 events stored per request (requests by events: {Counter(stored)})",
        )
        stats = [await h.stats.remote() for h in beds.brokers.values()]
        assert sum(s["events_dropped"] for s in stats) == 0
        assert await dlq_depths(cfg, [("admin", "adminLogsBroker")]) == {"admin.adminLogsBroker": 0}
        print(f"\nlogger store away {DB_OUTAGE_S:.0f} s: up to {waiting} event batches waited")


def private_logs(cfg: BedsConfig) -> Any:
    """The logger store's endpoint of `cfg` (the private MariaDB)."""
    return cfg.stores["logs"].master
