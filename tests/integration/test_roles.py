"""Every role on one node; scale, hot-swap and status through the admin command path."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from beds_actors.admin.auth import hash_token
from beds_actors.admin.client import AdminError, broadcast
from beds_actors.admin.commands import Command, NodeReply
from beds_actors.client import BedsClient, BedsClientError
from beds_actors.config import BedsConfig
from beds_actors.ipl import System
from tests.conftest import ALL_ROLES, load_test_config, running_beds

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]
CFG = load_test_config(
    BEDS__NODE__ROLES=ALL_ROLES,
    BEDS__NODE__NAME="roles-node",
    BEDS__AMQP__EXCHANGE="beds_roles_test",
    BEDS__AMQP__QUEUE_PREFIX="beds_roles_test.",
    BEDS__RAY__NAMESPACE="beds_roles_test",
)


@pytest.fixture(scope="module")
async def system() -> AsyncIterator[System]:
    async with running_beds(CFG) as running:
        yield running


@pytest.fixture(scope="module")
async def client(system: System) -> AsyncIterator[BedsClient]:
    async with BedsClient.from_config(CFG, timeout_s=60) as c:
        yield c


async def admin(
    command: str, cfg: BedsConfig = CFG, timeout_s: float = 120, **kwargs: Any
) -> NodeReply:
    replies = await broadcast(
        cfg, Command(command=command, **kwargs), settle_s=0.2, timeout_s=timeout_s
    )
    assert len(replies) == 1, replies
    return replies[0]


def consumers(status: NodeReply) -> dict[str, tuple[int, int]]:
    return {
        f"{b['role']}.{b['broker']}": (b["consumers"], len(b["instances"]))
        for b in status.data["brokers"]
    }


async def test_every_role_comes_up_with_its_configured_consumers(system: System) -> None:
    status = await admin("status")
    assert status.status == "ok"
    assert status.data["roles"] == ["appServer", "admin", "segundo", "tercero"]
    expected = {f"{r}.{b}": (c.instances, c.instances) for r, b, c in CFG.brokers()}
    assert consumers(status) == expected
    assert "beds/admin/adminLogsBroker/0" in system.brokers
    assert "beds/tercero/uBroker/0" in system.brokers


async def test_a_broker_serves_only_its_templates(client: BedsClient) -> None:
    with pytest.raises(BedsClientError, match="no queue is bound"):  # uBroker is tercero's
        await client.call("customer", "create", {"name": "Tess"}, broker="uBroker", timeout_s=5)
    tercero = BedsClient.from_config(CFG, role="tercero")
    async with tercero:
        ok = await tercero.call("customer", "create", {"name": "Tess"}, broker="uBroker")
        assert ok["status"] == "ok"
    admin_client = BedsClient.from_config(CFG, role="admin")
    async with admin_client:
        refused = await admin_client.call("customer", "fetch", broker="adminBrokerIn")
        assert refused["error"]["code"] == "unknown_template"
        assert "does not serve template" in refused["error"]["message"]


async def load(client: BedsClient, op: str, count: int) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]

    async def one(i: int) -> dict[str, Any]:
        await asyncio.sleep(i * 0.005)  # a steady stream, not one burst
        if op == "create":
            return await client.call("customer", "create", {"name": f"{run}-{i}"})
        return await client.call("customer", "fetch", query={"name": f"{run}-{i}"})

    return await asyncio.gather(*(one(i) for i in range(count)))


async def test_scale_up_and_down_under_load_loses_nothing(client: BedsClient) -> None:
    traffic = asyncio.ensure_future(load(client, "fetch", 1500))
    up = await admin("scale", target="appServer.rBroker", count=3)
    assert up.data["instances"] == [f"beds/appServer/rBroker/{i}" for i in range(3)]
    assert consumers(await admin("status"))["appServer.rBroker"] == (3, 3)
    down = await admin("scale", target="appServer.rBroker", count=1)
    assert down.data["instances"] == ["beds/appServer/rBroker/0"]
    replies = await traffic
    assert [r["status"] for r in replies] == ["ok"] * len(replies)
    assert consumers(await admin("status"))["appServer.rBroker"] == (1, 1)


async def test_hot_swap_under_load_fails_no_request(client: BedsClient, system: System) -> None:
    before = sorted(n for n in system.brokers if "/wBroker/" in n)
    traffic = asyncio.ensure_future(load(client, "create", 1500))
    swapped = await admin("swap", target="appServer.wBroker")
    replies = await traffic
    assert [r["status"] for r in replies] == ["ok"] * len(replies)
    assert swapped.data["instances"] != before
    assert len(swapped.data["instances"]) == len(before)
    assert consumers(await admin("status"))["appServer.wBroker"] == (1, 1)


async def test_admin_commands_for_another_node_or_broker(system: System) -> None:
    with pytest.raises(AdminError, match="not on this node"):
        await admin("scale", target="nobodyRole.rBroker", count=2, timeout_s=3)
    unknown = await admin("swap", target="appServer.noSuchBroker")
    assert unknown.status == "error" and "no broker 'noSuchBroker'" in unknown.message


async def test_a_wrong_admin_token_is_refused_and_changes_nothing() -> None:
    guarded = load_test_config(
        BEDS__NODE__NAME="guarded-node",
        BEDS__ADMIN__TOKEN_HASH=hash_token("right-token"),
        BEDS__AMQP__EXCHANGE="beds_guarded_test",
        BEDS__AMQP__QUEUE_PREFIX="beds_guarded_test.",
        BEDS__RAY__NAMESPACE="beds_guarded_test",
    )
    async with running_beds(guarded) as running:
        refused = await admin("scale", guarded, target="appServer.rBroker", count=2, token="x")
        assert refused.status == "error" and "token refused" in refused.message
        assert len([n for n in running.brokers if "/rBroker/" in n]) == 1
        allowed = await admin("status", guarded, token="right-token")
        assert allowed.status == "ok"
        done = await admin("shutdown", guarded, token="right-token")
        assert done.data == {"shutting_down": True}
        assert running.shutdown_requested.is_set()
