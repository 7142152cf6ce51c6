"""`beds status | scale | swap | dlq` and admin auth through the real CLI, against running nodes.

The nodes run in this process (on the session's Ray); every `beds` command runs in a
subprocess with the same isolated exchange, queues and Ray namespace.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from beds_actors.admin.auth import hash_token
from beds_actors.admin.client import broadcast
from beds_actors.admin.commands import Command, CommandName
from beds_actors.amqp import dlq as dlq_ops
from beds_actors.amqp.topology import connect, dlq_name
from beds_actors.client import BedsClient
from beds_actors.config import BedsConfig, load_from
from beds_actors.ipl import System
from beds_actors.testing import (
    ReplyTap,
    count_rows,
    dlq_depths,
    gather_replies,
    isolated_overrides,
    queue_states,
    statuses,
    steady_load,
    wait_until,
)
from tests.conftest import ALL_ROLES, TEST_CONFIG, isolated_config, running_beds
from tests.integration.test_cli import beds, err_lines

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]

TAG = "cli_admin"
NODE = f"cli-admin-{uuid.uuid4().hex[:8]}"
# The CLI's config: the system's exchange, queues and namespace. Its first role (appServer) is
# the one `beds dlq` addresses; `scale`/`swap` check targets against every configured role.
ENV = {**isolated_overrides(TAG), "BEDS__NODE__ROLES": ALL_ROLES}
CFG = isolated_config(TAG, BEDS__NODE__NAME=NODE, BEDS__NODE__ROLES=ALL_ROLES)
R_BROKER = "appServer.rBroker"


def rbroker(*indexes: int) -> list[str]:
    return [f"beds/appServer/rBroker/{i}" for i in indexes]


@pytest.fixture(scope="module")
async def system() -> AsyncIterator[System]:
    async with running_beds(CFG) as running:
        yield running


async def admin(cfg: BedsConfig, command: CommandName, **kwargs: Any) -> None:
    """Set a node's state in-process (test setup and cleanup, not under test)."""
    replies = await broadcast(cfg, Command(command=command, **kwargs), settle_s=0.2)
    assert [r.status for r in replies] == ["ok"], replies


async def rbroker_back_to_one() -> None:
    await admin(CFG, "scale", target=R_BROKER, count=1)


# --- status table ---------------------------------------------------------------------------


@dataclass
class BrokerRow:
    node: str
    depth: int
    consumers: int
    instances: list[str] = field(default_factory=list)


def table_rows(text: str) -> list[dict[str, str]]:
    """The body rows of the rich tables in `text`, keyed by column title."""
    header: list[str] = []
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("┃"):  # a header row
            header = [cell.strip() for cell in line.strip("┃").split("┃")]
        elif line.startswith("│"):
            cells = [cell.strip() for cell in line.strip("│").split("│")]
            assert len(cells) == len(header), (header, cells)
            rows.append(dict(zip(header, cells, strict=True)))
    return rows


def status_table(text: str) -> dict[str, BrokerRow]:
    """`beds status` output, by `<role>.<broker>` (a cell left empty repeats the one above)."""
    out: dict[str, BrokerRow] = {}
    node, row = "", None
    for cells in table_rows(text):
        node = cells["node"] or node
        if cells["broker"]:
            depth, consumers = int(cells["queue depth"]), int(cells["consumers"])
            row = out[cells["broker"]] = BrokerRow(node, depth, consumers)
        assert row is not None, text
        if cells["instance"] != "(none)":
            row.instances.append(cells["instance"])
    return out


async def status() -> dict[str, BrokerRow]:
    done = await beds("status", env=ENV)
    assert done.returncode == 0, done.stderr
    return status_table(done.stdout)


def configured(cfg: BedsConfig = CFG) -> list[str]:
    return [f"{r}.{b}" for r, rc in cfg.roles.items() for b in rc.brokers]


# --- status, scale, swap --------------------------------------------------------------------


async def test_status_lists_every_broker_of_the_node_with_its_consumers(system: System) -> None:
    await rbroker_back_to_one()
    table = await status()
    assert table == {
        f"{role}.{broker}": BrokerRow(NODE, 0, 1, [f"beds/{role}/{broker}/0"])
        for role, broker, _ in CFG.brokers()
    }


async def test_scale_up_adds_consuming_instances(system: System) -> None:
    await rbroker_back_to_one()
    try:
        done = await beds("scale", R_BROKER, "2", env=ENV)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [f"{NODE}: {R_BROKER} → {', '.join(rbroker(0, 1))}"]
        assert (await status())[R_BROKER] == BrokerRow(NODE, 0, 2, rbroker(0, 1))
        queue = CFG.queue_name("rBroker", "appServer")
        assert (await queue_states(CFG.amqp, [queue]))[queue] == (0, 2)
    finally:
        await rbroker_back_to_one()


async def test_scale_to_zero_keeps_requests_queued_until_scaled_up(system: System) -> None:
    await rbroker_back_to_one()
    queue = CFG.queue_name("rBroker", "appServer")
    nobody = f"nobody-{uuid.uuid4().hex}"
    try:
        done = await beds("scale", R_BROKER, "0", env=ENV)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [f"{NODE}: {R_BROKER} → none"]
        assert system.pool is not None and system.pool.instances("appServer", "rBroker") == []

        async with ReplyTap(CFG.amqp) as tap:
            request = {"template": "customer", "op": "fetch", "query": {"name": nobody}}
            cids = [await tap.publish(R_BROKER, request) for _ in range(5)]

            async def parked_in_queue() -> bool:
                return (await queue_states(CFG.amqp, [queue]))[queue] == (5, 0)

            await wait_until(parked_in_queue, timeout_s=30, what="5 ready, no consumer")
            assert (await status())[R_BROKER] == BrokerRow(NODE, 5, 0, [])
            assert tap.answered(cids) == 0

            back = await beds("scale", R_BROKER, "1", env=ENV)
            assert back.returncode == 0, back.stderr
            assert back.stdout.splitlines() == [f"{NODE}: {R_BROKER} → {rbroker(0)[0]}"]
            await tap.wait_answered(cids, timeout_s=60)
            assert tap.counts(cids) == {1: 5}
            assert [tap.replies[c][0]["data"] for c in cids] == [[]] * 5
        assert (await queue_states(CFG.amqp, [queue]))[queue] == (0, 1)
    finally:
        await rbroker_back_to_one()


async def test_swap_replaces_every_instance_under_load(system: System) -> None:
    await admin(CFG, "scale", target=R_BROKER, count=2)
    assert system.pool is not None
    pool = system.pool
    before = {n: pool.actors[n]._actor_id.hex() for n in pool.instances("appServer", "rBroker")}
    assert sorted(before) == rbroker(0, 1)
    run_id = uuid.uuid4().hex[:8]
    try:
        async with BedsClient.from_config(CFG, timeout_s=60) as client:

            async def fetch(i: int) -> dict[str, Any]:
                return await client.call("customer", "fetch", query={"name": f"{run_id}-{i}"})

            swap = asyncio.ensure_future(beds("swap", R_BROKER, env=ENV))
            calls: list[asyncio.Future[dict[str, Any]]] = []
            while not swap.done():  # the load runs for as long as the swap does, and a bit
                calls += await steady_load(fetch, seconds=0.5, per_second=40)
            calls += await steady_load(fetch, seconds=0.5, per_second=40)
            replies = await gather_replies(calls)
        done = swap.result()
        assert done.returncode == 0, done.stderr
        # Each old instance gave way to a new one: 0,1 → add 2, retire 0 → add 0, retire 1.
        assert done.stdout.splitlines() == [f"{NODE}: {R_BROKER} now {', '.join(rbroker(0, 2))}"]
        assert statuses(replies) == {"ok": len(calls)}
        assert len(calls) >= 40
        after = {n: pool.actors[n]._actor_id.hex() for n in pool.instances("appServer", "rBroker")}
        assert sorted(after) == rbroker(0, 2)
        assert set(after.values()).isdisjoint(before.values())
        assert (await status())[R_BROKER] == BrokerRow(NODE, 0, 2, rbroker(0, 2))
    finally:
        await rbroker_back_to_one()


@pytest.mark.parametrize(
    "args", [["scale", "appServer.noSuchBroker", "2"], ["swap", "rBroker"]], ids=["scale", "swap"]
)
async def test_an_unknown_target_exits_2_listing_the_configured_brokers(
    system: System, args: list[str]
) -> None:
    done = await beds(*args, env=ENV)
    assert done.returncode == 2
    assert done.stdout == ""
    assert err_lines(done) == [
        f"{args[1]!r} is not a configured broker (configured: {', '.join(configured())})"
    ]
    assert system.pool is not None and system.pool.instances("appServer", "rBroker") == rbroker(0)


# --- dlq ------------------------------------------------------------------------------------


async def purge_wbroker_dlq() -> None:
    connection = await connect(CFG.amqp, "beds-test-cli-dlq")
    try:
        await dlq_ops.purge(connection, dlq_name(CFG.queue_name("wBroker", "appServer")))
    finally:
        await connection.close()


async def test_dlq_list_shows_every_broker_and_replay_moves_exactly_limit(system: System) -> None:
    parked, moved = 5, 2
    run_id = uuid.uuid4().hex[:8]
    names = [f"dlq-{run_id}-{i}" for i in range(parked)]
    r_dlq = dlq_name(CFG.queue_name("rBroker", "appServer"))
    w_dlq = dlq_name(CFG.queue_name("wBroker", "appServer"))
    await purge_wbroker_dlq()
    try:
        async with ReplyTap(CFG.amqp) as tap:
            # The poison guard parks a request that claims 3 unanswered deliveries (the test
            # config's retry.max_deliveries) without running it.
            cids = [
                await tap.publish(
                    "appServer.wBroker",
                    {"template": "customer", "op": "create", "data": {"name": name}},
                    headers={"x-beds-returns": 3},
                )
                for name in names
            ]
            await tap.wait_answered(cids, timeout_s=60)
            assert statuses([tap.replies[c][0] for c in cids]) == {"internal_error": parked}
            main = CFG.stores["main"].master
            assert await count_rows(main, "v_customer", "cst_name", names) == [0] * parked
            assert await dlq_depths(CFG, [("appServer", "wBroker")]) == {
                "appServer.wBroker": parked
            }

            listed = await beds("dlq", "list", env=ENV)
            assert listed.returncode == 0, listed.stderr
            titles = re.findall(r"^\s*(\S+): (\d+) parked\s*$", listed.stdout, re.MULTILINE)
            # One table per broker of the CLI's role (appServer), in config order.
            assert titles == [
                (dlq_name(CFG.queue_name(b)), str(parked) if b == "wBroker" else "0")
                for b in CFG.role.brokers
            ]
            assert (r_dlq, "0") in titles
            rows = table_rows(listed.stdout)
            assert sorted(r["message_id"] for r in rows) == sorted(cids)
            assert {(r["reason"], r["attempts"]) for r in rows} == {("poison_message", "1")}

            replayed = await beds("dlq", "replay", "wBroker", "--limit", str(moved), env=ENV)
            assert replayed.returncode == 0, replayed.stderr
            assert replayed.stdout.splitlines() == [
                f"replayed {moved} request(s) from {w_dlq} to {CFG.queue_name('wBroker')}"
            ]

            async def left() -> bool:
                depths = await dlq_depths(CFG, [("appServer", "wBroker")])
                return depths == {"appServer.wBroker": parked - moved}

            await wait_until(left, timeout_s=30, what=f"{parked - moved} left in {w_dlq}")
            # Replayed as fresh first attempts: each runs once and answers its original caller.
            await wait_until(
                lambda: tap.counts(cids) == {1: parked - moved, 2: moved},
                timeout_s=60,
                what="a second reply for each replayed request",
            )
            second = [tap.replies[c][1] for c in cids if len(tap.replies[c]) == 2]
            assert statuses(second) == {"ok": moved}
            created = sorted(r["data"]["name"] for r in second)
            assert (
                sorted(await count_rows(main, "v_customer", "cst_name", names))
                == [0] * (parked - moved) + [1] * moved
            )
            assert set(created) <= set(names)

        purged = await beds("dlq", "purge", "wBroker", "--yes", env=ENV)
        assert purged.returncode == 0, purged.stderr
        assert purged.stdout.splitlines() == [f"purged {parked - moved} request(s) from {w_dlq}"]
        assert await dlq_depths(CFG, [("appServer", "wBroker")]) == {"appServer.wBroker": 0}
    finally:
        await purge_wbroker_dlq()


# --- admin auth -----------------------------------------------------------------------------


async def test_a_node_with_a_token_hash_takes_the_token_from_the_environment() -> None:
    token = f"admin-{uuid.uuid4().hex}"
    node = f"cli-guard-{uuid.uuid4().hex[:8]}"
    guarded = isolated_config(
        "cli_guard", BEDS__NODE__NAME=node, BEDS__ADMIN__TOKEN_HASH=hash_token(token)
    )
    env = isolated_overrides("cli_guard")  # the CLI's config holds no token and no hash
    async with running_beds(guarded) as running:
        ok = await beds("status", env={**env, "BEDS_ADMIN_TOKEN": token})
        assert ok.returncode == 0, ok.stderr
        assert status_table(ok.stdout)[R_BROKER] == BrokerRow(node, 0, 1, rbroker(0))

        refused = f"node {node}: admin token refused (check BEDS_ADMIN_TOKEN / admin.token)"
        wrong_token, no_token = await asyncio.gather(
            beds("scale", R_BROKER, "2", env={**env, "BEDS_ADMIN_TOKEN": token + "-wrong"}),
            beds("scale", R_BROKER, "2", env=env),
        )
        for done in (wrong_token, no_token):
            assert (done.returncode, done.stdout, err_lines(done)) == (1, "", [refused])
        assert running.pool is not None
        assert running.pool.instances("appServer", "rBroker") == rbroker(0)
        queue = guarded.queue_name("rBroker")
        assert (await queue_states(guarded.amqp, [queue]))[queue] == (0, 1)


async def test_a_node_outside_dev_without_a_token_hash_refuses_every_admin_command() -> None:
    node = f"cli-qa-{uuid.uuid4().hex[:8]}"
    overrides = {
        **isolated_overrides("cli_qa"),
        "BEDS__NODE__NAME": node,
        "BEDS__NODE__ROLES": '["segundo"]',
    }
    qa = load_from(TEST_CONFIG, env="qa", environ=overrides)
    assert (qa.env, qa.admin.token_hash) == ("qa", "")
    env = {**isolated_overrides("cli_qa"), "BEDS_ENV": "qa", "BEDS_ADMIN_TOKEN": "any-token"}
    refused = f"node {node}: admin.token_hash is not set on this node: admin commands are refused"
    async with running_beds(qa) as running:
        commands = [
            ["status"],
            ["scale", "segundo.whBroker", "2"],
            ["swap", "segundo.whBroker"],
            ["shutdown"],
        ]
        results = await asyncio.gather(*(beds(*args, env=env) for args in commands))
        for args, done in zip(commands, results, strict=True):
            assert (done.returncode, done.stdout, err_lines(done)) == (1, "", [refused]), args
        assert not running.shutdown_requested.is_set()
        assert sorted(running.brokers) == ["beds/segundo/whBroker/0"]
