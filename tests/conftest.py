"""Shared test helpers: the canonical test config, one local Ray per session, a BEDS system."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import ray

from beds_actors.amqp.topology import connect, delete_topology
from beds_actors.config import BedsConfig, load_from
from beds_actors.ipl import System, ipl
from beds_actors.ipl.ray_runtime import start_ray
from beds_actors.stores.schema import apply_schema

FIXTURES = Path(__file__).parent / "fixtures"
TEST_CONFIG = FIXTURES / "beds_test.toml"


def load_test_config(**env: str) -> BedsConfig:
    """The test config, with optional `BEDS__...` overrides; ignores the caller's environment."""
    return load_from(TEST_CONFIG, env="dev", environ=env)


@pytest.fixture(scope="session")
def test_config() -> BedsConfig:
    """The canonical test configuration (tests/fixtures/beds_test.toml)."""
    return load_test_config()


ALL_ROLES = '["appServer", "admin", "segundo", "tercero"]'


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """One local Ray node carrying every role (label role=any, loopback only) for all systems."""
    started = start_ray(load_test_config(BEDS__NODE__ROLES=ALL_ROLES))
    yield
    if started:
        ray.shutdown()


async def reset_topology(cfg: BedsConfig) -> None:
    """Delete the config's queues and exchange, whatever an earlier run left behind."""
    connection = await connect(cfg.amqp, "beds-test-reset")
    try:
        await delete_topology(connection, cfg)
    finally:
        await connection.close()


async def apply_test_schema(cfg: BedsConfig) -> None:
    """The demo schema plus the test-only DBA objects, on the config's main store."""
    main = cfg.stores["main"]
    await apply_schema("main", main)
    await apply_schema("main", main.model_copy(update={"schema_dir": str(FIXTURES / "schema")}))


@asynccontextmanager
async def running_beds(cfg: BedsConfig) -> AsyncIterator[System]:
    """A BEDS system on the session's Ray, from empty queues; torn down with its queues.

    Systems that run side by side need their own `ray.namespace`, `amqp.exchange` and
    `amqp.queue_prefix` (BEDS__ overrides of `load_test_config`).
    """
    await apply_test_schema(cfg)
    await reset_topology(cfg)
    system = await ipl(lambda: cfg)
    try:
        yield system
    finally:
        await system.stop()
        await reset_topology(cfg)
