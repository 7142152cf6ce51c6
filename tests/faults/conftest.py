"""Private RabbitMQ / MariaDB servers for fault-injection tests, one of each per session.

Tests may stop, kill and restart them freely; a test that leaves one down should `start()` it
again (start() is idempotent) so later tests find it running.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.services import PrivateMariaDB, PrivateRabbitMQ


@pytest.fixture(scope="session")
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    """Our own RabbitMQ node on loopback (never the shared 5672 one); closed at session end."""
    if not PrivateRabbitMQ.available():
        pytest.skip("rabbitmq-server is not installed")
    with PrivateRabbitMQ() as rabbit:
        yield rabbit


@pytest.fixture(scope="session")
def private_mariadb() -> Iterator[PrivateMariaDB]:
    """Our own MariaDB on loopback (never the shared 3306 one); closed at session end."""
    if not PrivateMariaDB.available():
        pytest.skip("mariadbd / mariadb-install-db are not installed")
    with PrivateMariaDB() as db:
        yield db
