"""The IPL sequence: config → logging → preflight → AMQP → registry → Ray → actors → ready."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aio_pika.abc import AbstractRobustConnection

from beds_actors.amqp.topology import AmqpUnavailable, connect, declare_topology
from beds_actors.config import BedsConfig, ConfigError, load
from beds_actors.events.model import now_us
from beds_actors.events.system import IplRecord, SystemLog
from beds_actors.ipl.preflight import preflight
from beds_actors.ipl.ray_runtime import RayUnavailable, require_role_nodes, start_ray
from beds_actors.ipl.system import System
from beds_actors.logs import setup_logging
from beds_actors.registry import Registry, TemplateError, load_registry
from beds_actors.registry.checks import check_against_config

log = logging.getLogger("beds.ipl")


class IplError(Exception):
    """The node cannot start; the message says which step, what, where, and what to do."""


@contextmanager
def _step(name: str, record: IplRecord) -> Iterator[None]:
    started, started_us = time.perf_counter(), now_us()
    log.info("IPL %-9s ...", name)
    try:
        yield
    except IplError as exc:
        record.step(name, started_us, ok=False, detail=str(exc))
        raise
    except (ConfigError, TemplateError, AmqpUnavailable, RayUnavailable, RuntimeError) as exc:
        record.step(name, started_us, ok=False, detail=str(exc))
        raise IplError(f"IPL step {name!r} failed: {exc}") from None
    record.step(name, started_us, ok=True)
    log.info("IPL %-9s done in %.0f ms", name, (time.perf_counter() - started) * 1000)


async def ipl(load_config: Callable[[], BedsConfig] = load) -> System:
    """Run the IPL and return the running System (call `await system.stop()` to shut down).

    Every start writes one IPL record with its steps to the logger store (via the system
    events broker) once RabbitMQ is reachable, whether the start succeeded or not.
    """
    record = IplRecord()
    with _step("config", record):
        cfg = load_config()
    syslog = SystemLog(cfg)
    connection: AbstractRobustConnection | None = None
    registry: Registry | None = None
    try:
        with _step("logging", record):
            setup_logging(cfg.logging)
            log.info("node %s, roles %s, env %s", cfg.node.name, ", ".join(cfg.node.roles), cfg.env)
        with _step("preflight", record):
            await _preflight(cfg, syslog)
        with _step("amqp", record):
            connection = await connect(cfg.amqp, f"beds/{cfg.node.name}/system")
            for queue in await declare_topology(connection, cfg):
                log.info("  declared queue %s", queue)
            await syslog.start(connection)
        with _step("registry", record):
            registry = load_registry(cfg.templates_dir, cfg.stores)
            check_against_config(cfg, registry)
            log.info("  templates: %s", ", ".join(registry.names()) or "none")
        system = System(cfg, registry, syslog=syslog, connection=connection)
        with _step("ray", record):
            system.ray_started = start_ray(cfg)
            require_role_nodes(cfg.node.roles)
        with _step("actors", record):
            try:
                await system.spawn()
            except BaseException:
                await system.stop()
                raise
            log.info(
                "  %d broker instance(s), %d adapter actor(s)",
                len(system.brokers),
                sum(len(h) for h in system.adapters.values()),
            )
    except BaseException:
        record.write(syslog, registry, ok=False)
        await syslog.stop()  # publishes the failed start's record if RabbitMQ was reached
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
        raise
    record.write(syslog, registry, ok=True)
    syslog.emit("ready", f"BEDS {', '.join(cfg.node.roles)} ready; IPL record {record.root}")
    log.info("IPL complete: BEDS %s ready", ", ".join(cfg.node.roles))
    return system


async def _preflight(cfg: BedsConfig, syslog: SystemLog) -> None:
    for result in await preflight(cfg):
        target = result.target
        if result.ok:
            log.info("  reachable: %s at %s", target.service, target.where)
        elif target.required or cfg.env == "prod":
            raise IplError(
                f"IPL step 'preflight' failed: {target.service} at {target.where} is not "
                f"reachable ({result.error}); start it or fix its host/port in config"
            )
        else:
            log.warning(
                "!!! optional %s at %s is NOT reachable (%s); continuing because env=%s",
                target.service,
                target.where,
                result.error,
                cfg.env,
            )
            syslog.emit(
                "preflight warning",
                f"optional {target.service} at {target.where} is not reachable "
                f"({result.error}); continuing because env={cfg.env}",
                status="warning",
            )
