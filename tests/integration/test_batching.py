"""Greedy batching across the Ray hop: requests share hops, and never more than max_batch."""

from __future__ import annotations

import asyncio

import pytest

from beds_actors.client import BedsClient
from beds_actors.ipl import System
from beds_actors.testing import statuses
from tests.conftest import isolated_config, run_id, running_beds

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]


async def creates(client: BedsClient, count: int) -> list[dict[str, object]]:
    run = run_id()
    return await asyncio.gather(
        *(client.call("customer", "create", {"name": f"batch-{run}-{i}"}) for i in range(count))
    )


async def test_concurrent_requests_cross_the_ray_hop_in_batches(
    client: BedsClient, beds: System
) -> None:
    broker = beds.brokers["beds/appServer/wBroker/0"]
    before = await broker.stats.remote()
    replies = await creates(client, 300)
    assert statuses(replies) == {"ok": 300}
    assert len({r["data"]["guid"] for r in replies}) == 300  # type: ignore[index]
    after = await broker.stats.remote()
    assert after["received"] - before["received"] == 300
    hops = after["batches"] - before["batches"]
    print(f"\n300 concurrent creates crossed the Ray hop in {hops} batches")
    assert hops <= 300 // 10, "fewer than 10 requests per Ray hop on average"


async def test_no_batch_is_larger_than_max_batch() -> None:
    cfg = isolated_config("max_batch", BEDS__ROLES__APPSERVER__BROKERS__WBROKER__MAX_BATCH="4")
    async with running_beds(cfg) as system, BedsClient.from_config(cfg) as client:
        replies = await creates(client, 100)
        stats = await system.brokers["beds/appServer/wBroker/0"].stats.remote()
    assert statuses(replies) == {"ok": 100}
    assert stats["largest_batch"] == 4
    assert stats["batches"] >= 100 // 4
