"""One BEDS system for the whole session, against the real RabbitMQ and MariaDB."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from beds_actors.client import BedsClient
from beds_actors.config import BedsConfig
from beds_actors.ipl import System
from tests.conftest import running_beds


@pytest.fixture(scope="session")
async def beds(test_config: BedsConfig, local_ray: None) -> AsyncIterator[System]:
    """BEDS up on the session's local Ray (schema applied first), stopped at session end."""
    async with running_beds(test_config) as system:
        yield system


@pytest.fixture(scope="session")
async def client(beds: System, test_config: BedsConfig) -> AsyncIterator[BedsClient]:
    """A connected client for the test system."""
    async with BedsClient.from_config(test_config, timeout_s=30) as c:
        yield c
