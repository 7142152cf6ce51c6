"""Shared test helpers: the canonical test config, one local Ray per session, a BEDS system."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
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
from beds_actors.testing import isolated_overrides

FIXTURES = Path(__file__).parent / "fixtures"
TEST_CONFIG = FIXTURES / "beds_test.toml"
BEDS = str(Path(sys.executable).with_name("beds"))  # the CLI of this venv


def load_test_config(**env: str) -> BedsConfig:
    """The test config, with optional `BEDS__...` overrides; ignores the caller's environment."""
    return load_from(TEST_CONFIG, env="dev", environ=env)


def isolated_config(tag: str, **env: str) -> BedsConfig:
    """The test config for a system of its own (exchange, queues, Ray namespace `beds_<tag>`)."""
    return load_test_config(**isolated_overrides(tag), **env)


def cli_env(**overrides: str) -> dict[str, str]:
    """Environment for a `beds` subprocess on the test config plus `BEDS__` overrides.

    The caller's own BEDS* variables are dropped, so a developer's shell never leaks in.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDS")}
    env.update({"BEDS_CONFIG": str(TEST_CONFIG), "BEDS_ENV": "dev", "COLUMNS": "250", **overrides})
    return env


def beds_cli(
    *args: str, timeout_s: float = 120, **overrides: str
) -> subprocess.CompletedProcess[str]:
    """Run `beds ARGS...` on the test config (+ overrides); output captured as text."""
    return subprocess.run(
        [BEDS, *args], env=cli_env(**overrides), capture_output=True, text=True, timeout=timeout_s
    )


def run_id() -> str:
    """A short random tag for names a test creates, so no run sees another run's records."""
    return uuid.uuid4().hex[:10]


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
    """The demo schema plus the test-only DBA objects on the main store; the logger store."""
    main = cfg.stores["main"]
    await apply_schema("main", main)
    await apply_schema("main", main.model_copy(update={"schema_dir": str(FIXTURES / "schema")}))
    await apply_schema("logs", cfg.stores["logs"])


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
