"""Everything the test session runs (Ray, brokers, adapters, clients) stays on 127.0.0.0/8."""

from __future__ import annotations

import pytest

from beds_actors.client import BedsClient
from beds_actors.testing import outside_loopback

pytestmark = pytest.mark.integration


async def test_every_socket_of_the_session_system_is_on_loopback(client: BedsClient) -> None:
    made = await client.call("customer", "create", {"name": "loopback"})
    assert made["status"] == "ok"  # brokers, adapter and database connections are all open
    assert outside_loopback() == []
