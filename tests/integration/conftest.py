"""One BEDS system on one local Ray for the whole session, against the real services."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from beds_actors.amqp.topology import connect, delete_topology
from beds_actors.client import BedsClient
from beds_actors.config import BedsConfig
from beds_actors.ipl import System, ipl
from beds_actors.stores.schema import apply_schema
from tests.conftest import FIXTURES


async def reset_topology(cfg: BedsConfig) -> None:
    """Start from empty test queues, whatever an earlier (maybe older) run left behind."""
    connection = await connect(cfg.amqp, "beds-test-reset")
    try:
        await delete_topology(connection, cfg)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def beds(test_config: BedsConfig) -> AsyncIterator[System]:
    """BEDS up on local Ray (schema applied first); stopped, with Ray, at session end."""
    main = test_config.stores["main"]
    await apply_schema("main", main)
    await apply_schema("main", main.model_copy(update={"schema_dir": str(FIXTURES / "schema")}))
    await reset_topology(test_config)
    system = await ipl(lambda: test_config)
    yield system
    await system.stop()


@pytest.fixture(scope="session")
async def client(beds: System, test_config: BedsConfig) -> AsyncIterator[BedsClient]:
    """A connected client for the test system."""
    async with BedsClient.from_config(test_config, timeout_s=30) as c:
        yield c
