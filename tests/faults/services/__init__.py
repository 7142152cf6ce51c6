"""Private RabbitMQ and MariaDB servers that fault-injection tests may stop, kill and restart.

Each instance owns a temp dir (data, logs, config, pid file, Erlang cookie), its own ports and,
for RabbitMQ, its own Erlang node name. Everything listens on 127.0.0.1 only. The machine's
shared servers (RabbitMQ `rabbit@localhost` on 5672/25672, MariaDB on 3306) are never
addressed: no signal is sent to any pid but the one this harness spawned (and that pid's own
children), and `rabbitmqctl` always runs against the private node with a private cookie.

Modules: `ports` (loopback port choice), `reaping` (killing and removing what a server
leaves), `base` (the lifecycle both servers share), `rabbitmq` and `mariadb` (what is
particular to each).
"""

from tests.faults.services.base import ServiceError
from tests.faults.services.mariadb import MARIADB_DEFAULT_PORT, PrivateMariaDB
from tests.faults.services.ports import (
    LOOPBACK,
    SHARED_PORTS,
    free_port,
    port_accepts,
    port_is_free,
)
from tests.faults.services.rabbitmq import (
    RABBITMQ_DEFAULT_PORT,
    RABBITMQ_DIST_OFFSET,
    PrivateRabbitMQ,
)
from tests.faults.services.reaping import reap_stale

__all__ = [
    "LOOPBACK",
    "MARIADB_DEFAULT_PORT",
    "RABBITMQ_DEFAULT_PORT",
    "RABBITMQ_DIST_OFFSET",
    "SHARED_PORTS",
    "PrivateMariaDB",
    "PrivateRabbitMQ",
    "ServiceError",
    "free_port",
    "port_accepts",
    "port_is_free",
    "reap_stale",
]
