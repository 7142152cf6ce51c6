"""Start and stop the systems under test as subprocesses; reset the bench database and AMQP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import aiomysql

from beds_actors.amqp.topology import control_exchange_name, delete_topology
from beds_actors.bench.workload import Target
from beds_actors.config import BedsConfig, load_from
from beds_actors.stores.schema import apply_schema

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BEDS_CONFIG = BENCH / "beds_bench.toml"
URL = "amqp://guest:guest@127.0.0.1:5672/"
KEYS = ("appServer.rBroker", "appServer.wBroker")
PEERS = {
    "raw": ("raw_floor.py", "beds_bench_raw"),
    "faststream": ("faststream_peer.py", "beds_bench_fs"),
    "nameko": ("nameko_peer.py", "beds_bench_nameko"),
}
# BEDS as configured in beds_bench.toml, and variants that differ only in the node's environment
# (no code change), each on its own exchange, queues and Ray namespace:
#   beds0  Ray's worker niceness 0 instead of Ray's default 15 (RAY_worker_niceness)
#   bedsq  quorum queues (the shipped config/beds.toml) instead of classic ones
#   bedsl  the adapter inside each broker process (stores.main.placement = "in_broker")
#   bedsn  event lineage off (events.enabled = false): what recording every step costs
VARIANTS: dict[str, dict[str, str]] = {
    "beds": {},
    "bedsn": {"BEDS__EVENTS__ENABLED": "false"},
    "beds0": {"RAY_worker_niceness": "0"},
    "bedsq": {"BEDS__AMQP__QUEUE_TYPE": "quorum"},
    "bedsl": {"BEDS__STORES__MAIN__PLACEMENT": "in_broker"},
}


def beds_exchange(variant: str) -> str:
    return f"beds_bench_{variant}"


def variant_env(variant: str) -> dict[str, str]:
    exchange = beds_exchange(variant)
    return {
        **VARIANTS[variant],
        "BEDS__AMQP__EXCHANGE": exchange,
        "BEDS__AMQP__QUEUE_PREFIX": exchange + ".",
        "BEDS__RAY__NAMESPACE": exchange,
    }


RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def bench_config() -> BedsConfig:
    """bench/beds_bench.toml alone: no env file, no BEDS__ variables of the caller."""
    return load_from(BEDS_CONFIG, env="dev", environ={})


def target(system: str) -> Target:
    """Where the generator sends requests for a system (`beds`, `bedsx2` … share one)."""
    exchange = beds_exchange(system) if system in VARIANTS else PEERS[system][1]
    return Target(URL, exchange, *KEYS)


@dataclass
class Proc:
    """A system under test running as a subprocess with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    started_s: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM, wait, then SIGKILL the whole process group if it is still there."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        return self.popen.returncode


def _spawn(name: str, argv: list[str], logs: Path, env: dict[str, str], ready: str) -> Proc:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    began = time.monotonic()
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    proc = Proc(name, popen, log)
    deadline = began + 180
    while ready not in log.read_text(errors="replace"):
        if popen.poll() is not None or time.monotonic() > deadline:
            proc.stop(5)
            tail = log.read_text(errors="replace")[-2500:]
            raise RuntimeError(f"{name} did not start (see {log}):\n{tail}")
        time.sleep(0.2)
    proc.started_s = time.monotonic() - began
    return proc


def start_peer(system: str, logs: Path) -> Proc:
    script, exchange = PEERS[system]
    argv = [sys.executable, str(BENCH / script), "--exchange", exchange]
    return _spawn(system, argv, logs, dict(os.environ), "READY")


def start_beds(instances: int, logs: Path, variant: str = "beds") -> Proc:
    """`beds up` on the bench config with `instances` of each broker (variant: see VARIANTS)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDS")}
    env.update(RAY_ENV)
    env.update(
        {
            "BEDS_CONFIG": str(BEDS_CONFIG),
            "BEDS_ENV": "dev",
            "BEDS__ROLES__APPSERVER__BROKERS__RBROKER__INSTANCES": str(instances),
            "BEDS__ROLES__APPSERVER__BROKERS__WBROKER__INSTANCES": str(instances),
        }
    )
    env.update(variant_env(variant))
    argv = [str(Path(sys.executable).with_name("beds")), "up"]
    name = f"{variant}-x{instances}"
    return _spawn(name, argv, logs, env, "IPL complete")


async def reset_database(cfg: BedsConfig) -> str:
    """Drop and recreate the bench database with the DBA objects; returns the server version."""
    store = cfg.stores["main"]
    ep = store.master
    if not ep.database.startswith("beds_bench"):
        raise RuntimeError(f"refusing to drop {ep.database!r}: not a beds_bench database")
    conn = await aiomysql.connect(host=ep.host, port=ep.port, user=ep.user, password=ep.password)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{ep.database}`")
            await cur.execute("SELECT VERSION()")
            version = str((await cur.fetchone())[0])
    finally:
        conn.close()
    await apply_schema("main", store)
    logs = cfg.stores["logs"]
    if not logs.master.database.startswith("beds_bench"):
        raise RuntimeError(f"refusing to use {logs.master.database!r}: not a beds_bench database")
    await apply_schema("logs", logs)  # the logger store accumulates; it is never read here
    return version


async def clean_amqp() -> str:
    """Delete every bench queue (BEDS's DLQs and retry queues too) and exchange.

    Returns the RabbitMQ version.
    """
    connection = await aio_pika.connect_robust(URL)
    try:
        props = connection.transport.connection.server_properties  # type: ignore[union-attr]
        version = str(props.get("version", "?"))
        for variant in VARIANTS:
            cfg = load_from(BEDS_CONFIG, env="dev", environ=variant_env(variant))
            await delete_topology(connection, cfg)
            async with connection.channel() as control:  # delete_topology leaves it
                await control.exchange_delete(control_exchange_name(cfg.amqp))
        channel = await connection.channel()
        for _, exchange in PEERS.values():
            for key in KEYS:
                await channel.queue_delete(f"{exchange}.{key}")
            await channel.exchange_delete(exchange)
        return version
    finally:
        await connection.close()


async def wait_quiet(labels: dict[int, str], limit_cores: float, max_wait_s: float) -> float:
    """Wait until processes outside the systems under test use < `limit_cores`; returns it."""
    from beds_actors.bench.procs import CpuSnapshot, cpu_between

    deadline = time.monotonic() + max_wait_s
    while True:
        before = await asyncio.to_thread(CpuSnapshot.take, labels)
        await asyncio.sleep(2.0)
        usage = cpu_between(before, await asyncio.to_thread(CpuSnapshot.take, labels))
        foreign = usage.groups.get("other", 0.0) / usage.elapsed_s
        if foreign < limit_cores or time.monotonic() > deadline:
            return foreign
