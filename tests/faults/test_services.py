"""The fault harness itself: private servers survive stop/kill/restart; shared ones stay put."""

from __future__ import annotations

import re
import subprocess
import uuid
import warnings

import aio_pika
import aiomysql
import pytest

from tests.faults.services import PrivateMariaDB, PrivateRabbitMQ


def listener_pid(port: int) -> int | None:
    """Pid of the process listening on 127.0.0.1:`port` (per `ss -ltnp`), if any."""
    out = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10
    ).stdout
    m = re.search(r"pid=(\d+)", out)
    return int(m.group(1)) if m else None


# Captured at collection, before any private server exists.
SHARED_BEFORE = {5672: listener_pid(5672), 3306: listener_pid(3306)}


def report(svc: PrivateRabbitMQ | PrivateMariaDB) -> str:
    return " ".join(
        f"{k}=[{', '.join(f'{v:.2f}s' for v in vs)}]" for k, vs in svc.timings.items() if vs
    )


# --------------------------------------------------------------------------- RabbitMQ


async def test_rabbitmq_is_private(private_rabbitmq: PrivateRabbitMQ) -> None:
    rabbit = private_rabbitmq
    assert rabbit.port not in (5672, 25672) and rabbit.dist_port != 25672
    assert SHARED_BEFORE[5672] is not None, "the shared RabbitMQ on 5672 is not running"
    assert listener_pid(rabbit.port) == rabbit.pid
    assert rabbit.pid != SHARED_BEFORE[5672]
    assert listener_pid(rabbit.dist_port) == rabbit.pid
    assert rabbit.node.startswith("beds_fault_") and rabbit.node != "rabbit@localhost"
    assert "127.0.0.1" in rabbit.url


async def test_rabbitmq_restart_keeps_durable_message(private_rabbitmq: PrivateRabbitMQ) -> None:
    rabbit = private_rabbitmq
    conn = await aio_pika.connect(rabbit.url, timeout=10)
    async with conn:
        ch = await conn.channel()
        q = await ch.declare_queue("fault.durable", durable=True)
        await q.purge()
        await ch.default_exchange.publish(
            aio_pika.Message(b"survives", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key="fault.durable",
        )
    old_pid = rabbit.pid

    rabbit.restart()

    assert rabbit.running and rabbit.pid != old_pid
    conn = await aio_pika.connect(rabbit.url, timeout=10)
    async with conn:
        ch = await conn.channel()
        q = await ch.declare_queue("fault.durable", durable=True, passive=True)
        msg = await q.get(timeout=5, fail=True)
        assert msg is not None and msg.body == b"survives"
        await msg.ack()
    print(f"\nrabbitmq timings: {report(rabbit)}")


async def test_rabbitmq_kill_then_start(private_rabbitmq: PrivateRabbitMQ) -> None:
    # What a killed node keeps is RabbitMQ's business (a queue declared just before a kill -9
    # may be gone); the harness promises a dead node that refuses, then a fresh one that works.
    rabbit = private_rabbitmq
    old_pid = rabbit.pid
    try:
        rabbit.kill()
        assert not rabbit.running
        with pytest.raises((aio_pika.exceptions.AMQPConnectionError, OSError)):
            await aio_pika.connect(rabbit.url, timeout=3)
    finally:
        rabbit.start()
    assert rabbit.running and rabbit.pid != old_pid
    assert listener_pid(rabbit.port) == rabbit.pid
    conn = await aio_pika.connect(rabbit.url, timeout=10)
    async with conn:
        ch = await conn.channel()
        queue = await ch.declare_queue("fault.after_kill", auto_delete=True)
        await ch.default_exchange.publish(aio_pika.Message(b"alive"), routing_key=queue.name)
        msg = await queue.get(timeout=5, fail=True)
        assert msg is not None and msg.body == b"alive"
    print(f"\nrabbitmq timings: {report(rabbit)}")


# --------------------------------------------------------------------------- MariaDB


async def _rows(db: PrivateMariaDB) -> list[tuple[int, str]]:
    conn = await aiomysql.connect(**db.connect_kwargs(connect_timeout=5))
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT id, v FROM fault_t ORDER BY id")
            return [tuple(r) for r in await cur.fetchall()]
    finally:
        conn.close()


async def _insert(db: PrivateMariaDB, v: str) -> None:
    conn = await aiomysql.connect(**db.connect_kwargs(connect_timeout=5))
    try:
        async with conn.cursor() as cur:
            with warnings.catch_warnings():  # "already exists" note on the second call
                warnings.simplefilter("ignore")
                await cur.execute(
                    "CREATE TABLE IF NOT EXISTS fault_t "
                    "(id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(32)) ENGINE=InnoDB"
                )
            await cur.execute("INSERT INTO fault_t (v) VALUES (%s)", (v,))
        await conn.commit()
    finally:
        conn.close()


async def test_mariadb_is_private(private_mariadb: PrivateMariaDB) -> None:
    db = private_mariadb
    assert db.port != 3306
    assert SHARED_BEFORE[3306] is not None, "the shared MariaDB on 3306 is not running"
    assert listener_pid(db.port) == db.pid
    assert db.pid != SHARED_BEFORE[3306]


async def test_mariadb_stop_refuses_then_start_keeps_data(private_mariadb: PrivateMariaDB) -> None:
    db = private_mariadb
    value = f"stop-{uuid.uuid4().hex[:8]}"
    await _insert(db, value)
    try:
        db.stop()
        assert not db.running
        with pytest.raises(aiomysql.OperationalError):
            await aiomysql.connect(**db.connect_kwargs(connect_timeout=2))
    finally:
        db.start()
    assert [v for _, v in await _rows(db)].count(value) == 1
    print(f"\nmariadb timings: {report(db)}")


async def test_mariadb_kill_then_start(private_mariadb: PrivateMariaDB) -> None:
    db = private_mariadb
    value = f"kill-{uuid.uuid4().hex[:8]}"
    await _insert(db, value)
    old_pid = db.pid
    try:
        db.kill()
        assert not db.running
        with pytest.raises(aiomysql.OperationalError):
            await aiomysql.connect(**db.connect_kwargs(connect_timeout=2))
    finally:
        db.start()
    assert db.pid != old_pid
    assert [v for _, v in await _rows(db)].count(value) == 1  # committed => survives a crash
    print(f"\nmariadb timings: {report(db)}")


# --------------------------------------------------------------------------- shared servers


@pytest.mark.parametrize("port", [5672, 3306])
def test_shared_server_untouched(port: int) -> None:
    if SHARED_BEFORE[port] is None:
        pytest.skip(f"no shared server on {port}")
    assert listener_pid(port) == SHARED_BEFORE[port]
