"""The demo domains order and order_line through BEDS, and their REL templates' DBA objects."""

from __future__ import annotations

import aiomysql
import orjson
import pytest

from beds_actors.client import BedsClient
from beds_actors.config import BedsConfig
from beds_actors.ipl import System
from beds_actors.testing import connection
from tests.conftest import run_id

pytestmark = pytest.mark.integration


async def ok(reply: dict) -> dict:
    assert reply["status"] == "ok", reply
    return reply["data"]


async def by_keys(cfg: BedsConfig, procedure: str, keys: list[str]) -> list[dict]:
    """CALL a REL template's by_keys procedure as the adapter will: one JSON array of keys."""
    ep = cfg.stores["main"].master
    async with connection(ep) as conn, conn.cursor(aiomysql.DictCursor) as cur:
        await cur.execute(f"CALL `{procedure}`(%s)", (orjson.dumps(keys).decode(),))
        return list(await cur.fetchall())


async def test_a_customer_with_orders_and_lines_through_beds(
    client: BedsClient, beds: System, test_config: BedsConfig
) -> None:
    customer = await ok(await client.call("customer", "create", {"name": f"buyer-{run_id()}"}))
    orders = [
        await ok(await client.call("order", "create", {"customer": customer["guid"], "total": t}))
        for t in (10.5, 20.0)
    ]
    assert [o["status"] for o in orders] == ["new", "new"]  # the DBA's default
    line = {"order": orders[0]["guid"], "sku": "SKU-1", "quantity": 2, "price": 5.25}
    made = await ok(await client.call("order_line", "create", line))
    assert {k: made[k] for k in line} == line

    mine = await ok(await client.call("order", "fetch", query={"customer": customer["guid"]}))
    assert sorted(o["guid"] for o in mine) == sorted(o["guid"] for o in orders)
    paid = await ok(
        await client.call("order", "update", {"status": "paid"}, {"guid": orders[1]["guid"]})
    )
    assert (paid["status"], paid["total"]) == ("paid", 20.0)

    # The REL templates' by_keys objects: the children of many parents in one call.
    rows = await by_keys(test_config, "sp_order_by_customers", [customer["guid"], "0" * 32])
    assert sorted(r["ord_guid"] for r in rows) == sorted(o["guid"] for o in orders)
    lines = await by_keys(test_config, "sp_order_line_by_orders", [o["guid"] for o in orders])
    assert [(r["orl_guid"], r["orl_quantity"]) for r in lines] == [(made["guid"], 2)]
