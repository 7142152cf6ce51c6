"""kill -9 a broker actor's process under load: every request is answered once, nothing lost."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import pytest

from beds_actors.client import BedsClient
from beds_actors.ipl import System

pytestmark = pytest.mark.integration
IN_FLIGHT = 1000


async def kill_broker_mid_load(
    beds: System, broker: str, calls: list[asyncio.Future[dict]]
) -> float:
    """SIGKILL the broker's process once some replies are in; return when it was killed."""
    handle = beds.brokers[f"beds/appServer/{broker}/0"]
    pid = await handle.pid.remote()
    while sum(c.done() for c in calls) < IN_FLIGHT // 10:
        await asyncio.sleep(0.005)
    assert sum(c.done() for c in calls) < IN_FLIGHT, "load finished before the kill"
    os.kill(pid, signal.SIGKILL)
    return time.monotonic()


async def assert_back_consuming(beds: System, broker: str, killed_at: float) -> None:
    handle = beds.brokers[f"beds/appServer/{broker}/0"]
    assert beds.supervisor is not None
    name = f"beds/appServer/{broker}/0"
    while beds.supervisor.restarts[name] == 0:
        assert time.monotonic() - killed_at < 10, "broker not consuming again within 10 s"
        await asyncio.sleep(0.1)
    assert (await handle.stats.remote())["received"] > 0


async def test_kill_9_of_the_write_broker_under_load(client: BedsClient, beds: System) -> None:
    run = uuid.uuid4().hex[:8]
    names = [f"crash-{run}-{i}" for i in range(IN_FLIGHT)]
    calls = [
        asyncio.ensure_future(client.call("customer", "create", {"name": n}, timeout_s=90))
        for n in names
    ]
    killed_at = await kill_broker_mid_load(beds, "wBroker", calls)
    replies = await asyncio.gather(*calls)
    assert [r["status"] for r in replies].count("ok") == IN_FLIGHT, [
        r for r in replies if r["status"] != "ok"
    ][:3]
    await assert_back_consuming(beds, "wBroker", killed_at)
    # redelivered creates were idempotent: exactly one record per request
    found = await asyncio.gather(
        *(client.call("customer", "fetch", query={"name": n}) for n in names)
    )
    assert [len(f["data"]) for f in found] == [1] * IN_FLIGHT


async def test_kill_9_of_the_read_broker_under_load(client: BedsClient, beds: System) -> None:
    made = await client.call("customer", "create", {"name": f"reader-{uuid.uuid4().hex}"})
    guid = made["data"]["guid"]
    calls = [
        asyncio.ensure_future(client.call("customer", "fetch", query={"guid": guid}, timeout_s=90))
        for _ in range(IN_FLIGHT)
    ]
    killed_at = await kill_broker_mid_load(beds, "rBroker", calls)
    replies = await asyncio.gather(*calls)
    assert all(r["status"] == "ok" and r["data"][0]["guid"] == guid for r in replies)
    await assert_back_consuming(beds, "rBroker", killed_at)
