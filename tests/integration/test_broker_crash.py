"""kill -9 a broker actor's process under load: every request answered, once per delivery.

Replies are counted at the AMQP level (`ReplyTap`), not through BedsClient, which ignores a
repeated reply by design: a duplicate must be visible to be ruled out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from beds_actors.config import BedsConfig
from beds_actors.ipl import System
from beds_actors.testing import ReplyTap, count_rows, wait_until
from tests.conftest import run_id

pytestmark = pytest.mark.integration
IN_FLIGHT = 1000
BACK_WITHIN_S = 10.0  # asserted bound; the test prints what it measured


async def kill_mid_load(beds: System, broker: str, tap: ReplyTap, cids: list[str]) -> float:
    """SIGKILL the broker's process while it holds unacked requests; the time of the kill."""
    name = f"beds/appServer/{broker}/0"
    handle = beds.brokers[name]
    pid = await handle.pid.remote()
    await wait_until(
        lambda: tap.answered(cids) >= IN_FLIGHT // 10, timeout_s=60, what="first replies"
    )
    # Prefetch 128: a broker with replies flowing holds dozens of delivered, unacked requests.
    held = await wait_until(
        lambda: _inflight(handle), timeout_s=10, what=f"{name} holding unacked requests"
    )
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    assert tap.answered(cids) < IN_FLIGHT, "load finished before the kill"
    print(f"\n{broker}: killed pid {pid} holding {held} unacked request(s)")
    return killed_at


async def _inflight(handle: object) -> int:
    return int((await handle.stats.remote())["inflight"])  # type: ignore[attr-defined]


async def back_consuming_after(beds: System, broker: str, killed_at: float) -> float:
    """Seconds from the kill until the supervisor has the restarted broker consuming."""
    assert beds.supervisor is not None
    name = f"beds/appServer/{broker}/0"
    before = beds.supervisor.restarts[name]
    await wait_until(
        lambda: beds.supervisor is not None and beds.supervisor.restarts[name] > before,
        timeout_s=BACK_WITHIN_S,
        what=f"{name} consuming again after kill -9",
        interval_s=0.02,
    )
    return time.monotonic() - killed_at


async def crash_under_load(
    beds: System, cfg: BedsConfig, broker: str, bodies: list[dict[str, object]]
) -> tuple[ReplyTap, list[str], dict[str, int]]:
    """Publish every body, kill the broker mid-way, wait for all replies; (tap, ids, stats)."""
    async with ReplyTap(cfg.amqp) as tap:
        cids = list(await asyncio.gather(*(tap.publish(f"appServer.{broker}", b) for b in bodies)))
        killed_at = await kill_mid_load(beds, broker, tap, cids)
        # Measured while the load is still being answered: the bound can fire.
        back_s = await back_consuming_after(beds, broker, killed_at)
        await tap.wait_answered(cids, timeout_s=120)
        stats = await beds.brokers[f"beds/appServer/{broker}/0"].stats.remote()
        print(f"{broker}: consuming again {back_s:.1f} s after kill -9; restarted: {stats}")
        await asyncio.sleep(0.5)  # a late duplicate reply would arrive in this moment
    return tap, cids, stats


def assert_answered_once_per_delivery(
    tap: ReplyTap, cids: list[str], stats: dict[str, int]
) -> None:
    """Every request answered; a repeat only for a request redelivered after its reply."""
    counts = tap.counts(cids)
    assert 0 not in counts, counts
    assert stats["redelivered"] > 0, "the kill hit no request in flight"
    repeated = sum((n - 1) * k for n, k in counts.items())
    assert repeated <= stats["redelivered"], (counts, stats)
    for cid in cids:
        replies = tap.replies[cid]
        assert all(r["status"] == "ok" for r in replies), replies
        assert all(r["data"] == replies[0]["data"] for r in replies), replies
    print(f"replies per request: {counts}")


async def test_kill_9_of_the_write_broker_under_load(beds: System, test_config: BedsConfig) -> None:
    run = run_id()
    names = [f"crash-{run}-{i}" for i in range(IN_FLIGHT)]
    bodies = [{"template": "customer", "op": "create", "data": {"name": n}} for n in names]
    tap, cids, stats = await crash_under_load(beds, test_config, "wBroker", bodies)
    assert_answered_once_per_delivery(tap, cids, stats)
    # redelivered creates were idempotent: exactly one record per request
    main = test_config.stores["main"].master
    assert await count_rows(main, "v_customer", "cst_name", names) == [1] * IN_FLIGHT


async def test_kill_9_of_the_read_broker_under_load(beds: System, test_config: BedsConfig) -> None:
    async with ReplyTap(test_config.amqp) as tap:
        cid = await tap.publish(
            "appServer.wBroker",
            {"template": "customer", "op": "create", "data": {"name": f"reader-{run_id()}"}},
        )
        await tap.wait_answered([cid], timeout_s=30)
        guid = tap.replies[cid][0]["data"]["guid"]
    fetch = {"template": "customer", "op": "fetch", "query": {"guid": guid}}
    tap, cids, stats = await crash_under_load(beds, test_config, "rBroker", [fetch] * IN_FLIGHT)
    assert_answered_once_per_delivery(tap, cids, stats)
    assert all(r["data"][0]["guid"] == guid for cid in cids for r in tap.replies[cid])
