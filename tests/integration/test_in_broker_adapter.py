"""stores.<s>.placement = "in_broker": each broker owns its adapter, no Ray hop per batch."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from beds_actors.client import BedsClient
from tests.conftest import load_test_config, running_beds

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]


async def test_the_whole_request_path_works_with_the_adapter_in_the_broker() -> None:
    cfg = load_test_config(
        BEDS__STORES__MAIN__PLACEMENT="in_broker",
        BEDS__AMQP__EXCHANGE="beds_inbroker_test",
        BEDS__AMQP__QUEUE_PREFIX="beds_inbroker_test.",
        BEDS__RAY__NAMESPACE="beds_inbroker_test",
    )
    async with running_beds(cfg) as system, BedsClient.from_config(cfg) as client:
        assert "main" not in system.adapters  # no adapter actor for an in-broker store
        run = uuid.uuid4().hex[:8]
        made = await asyncio.gather(
            *(client.call("customer", "create", {"name": f"ib-{run}-{i}"}) for i in range(50))
        )
        assert [m["status"] for m in made] == ["ok"] * 50
        guid = made[0]["data"]["guid"]
        fetched = await client.call("customer", "fetch", query={"guid": guid})
        assert fetched["data"] == [made[0]["data"]]
        updated = await client.call("customer", "update", {"email": "ib@x"}, {"guid": guid})
        assert updated["data"]["email"] == "ib@x"
        assert (await client.call("customer", "delete", query={"guid": guid}))["status"] == "ok"
        gone = await client.call("customer", "fetch", query={"guid": guid})
        assert gone["error"]["code"] == "not_found"
        slow = await client.call("slowpoke", "fetch", query={"delay_ms": 4000}, timeout_s=60)
        assert slow["error"]["code"] == "timeout"  # the per-request timeout holds in-process too
