"""`beds dlq list|show|replay|purge` as an operator runs them, on a system of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from beds_actors.amqp.topology import dlq_name
from beds_actors.ipl import System
from beds_actors.testing import ReplyTap, count_rows, dlq_depths, isolated_overrides, wait_until
from tests.conftest import beds_cli, load_test_config, run_id, running_beds

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]
ENV = isolated_overrides("dlq_cmds")
CFG = load_test_config(**ENV)
BROKERS = [("appServer", "rBroker"), ("appServer", "wBroker")]


@pytest.fixture(scope="module")
async def system() -> AsyncIterator[System]:
    async with running_beds(CFG) as running:
        yield running


async def cli(*args: str) -> tuple[int, str, str]:
    done = await asyncio.to_thread(beds_cli, *args, **ENV)
    return done.returncode, done.stdout, done.stderr


async def park(tap: ReplyTap, names: list[str]) -> list[str]:
    """Park creates without running them: each claims it came back max_deliveries times."""
    cids = [
        await tap.publish(
            "appServer.wBroker",
            {"template": "customer", "op": "create", "data": {"name": n}},
            headers={"x-beds-returns": CFG.retry.max_deliveries},
        )
        for n in names
    ]
    await tap.wait_answered(cids, timeout_s=30)
    assert {tap.replies[c][0]["error"]["code"] for c in cids} == {"internal_error"}
    return cids


async def test_list_show_then_replay_runs_every_parked_request_once(system: System) -> None:
    names = [f"replay-{run_id()}-{i}" for i in range(5)]
    dlq = dlq_name(CFG.queue_name("wBroker"))
    async with ReplyTap(CFG.amqp) as tap:
        cids = await park(tap, names)
        assert await dlq_depths(CFG, BROKERS) == {"appServer.rBroker": 0, "appServer.wBroker": 5}

        code, listed, _ = await cli("dlq", "list", "wBroker")
        assert code == 0
        assert f"{dlq}: 5 parked" in listed
        assert listed.count("poison_message") == 5

        code, shown, _ = await cli("dlq", "show", "wBroker", "--limit", "10")
        rows = [orjson.loads(line) for line in shown.splitlines()]
        assert code == 0 and len(rows) == 5
        assert sorted(r["message_id"] for r in rows) == sorted(cids)
        assert {r["reason"] for r in rows} == {"poison_message"}
        assert {r["headers"]["x-beds-queue"] for r in rows} == {CFG.queue_name("wBroker")}

        code, replayed, _ = await cli("dlq", "replay", "wBroker")
        assert code == 0 and f"replayed 5 request(s) from {dlq}" in replayed
        # Replayed as fresh first attempts: each runs and answers its (still open) reply queue.
        await wait_until(
            lambda: all(len(tap.replies[c]) == 2 for c in cids),
            timeout_s=30,
            what="a second reply to every replayed request",
        )
    assert {tap.replies[c][1]["status"] for c in cids} == {"ok"}
    assert await dlq_depths(CFG, BROKERS) == {"appServer.rBroker": 0, "appServer.wBroker": 0}
    main = CFG.stores["main"].master
    assert await count_rows(main, "v_customer", "cst_name", names) == [1] * len(names)


async def test_purge_asks_for_yes_then_drops_exactly_what_was_parked(system: System) -> None:
    async with ReplyTap(CFG.amqp) as tap:
        await park(tap, [f"purge-{run_id()}-{i}" for i in range(3)])
    assert await dlq_depths(CFG, BROKERS) == {"appServer.rBroker": 0, "appServer.wBroker": 3}
    code, _, err = await cli("dlq", "purge", "wBroker")
    assert code == 2 and "--yes" in err
    assert await dlq_depths(CFG, BROKERS) == {"appServer.rBroker": 0, "appServer.wBroker": 3}
    code, purged, _ = await cli("dlq", "purge", "wBroker", "--yes")
    assert code == 0 and "purged 3 request(s)" in purged
    assert await dlq_depths(CFG, BROKERS) == {"appServer.rBroker": 0, "appServer.wBroker": 0}
