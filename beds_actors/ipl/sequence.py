"""The IPL sequence: config → logging → preflight → AMQP → registry → Ray → actors → ready."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from beds_actors.amqp.topology import AmqpUnavailable, connect, declare_topology
from beds_actors.config import BedsConfig, ConfigError, load
from beds_actors.ipl.preflight import preflight
from beds_actors.ipl.ray_runtime import RayUnavailable, require_role_nodes, start_ray
from beds_actors.ipl.system import System
from beds_actors.logs import setup_logging
from beds_actors.registry import TemplateError, load_registry
from beds_actors.registry.checks import check_against_config

log = logging.getLogger("beds.ipl")


class IplError(Exception):
    """The node cannot start; the message says which step, what, where, and what to do."""


@contextmanager
def _step(name: str) -> Iterator[None]:
    started = time.perf_counter()
    log.info("IPL %-9s ...", name)
    try:
        yield
    except IplError:
        raise
    except (ConfigError, TemplateError, AmqpUnavailable, RayUnavailable, RuntimeError) as exc:
        raise IplError(f"IPL step {name!r} failed: {exc}") from None
    log.info("IPL %-9s done in %.0f ms", name, (time.perf_counter() - started) * 1000)


async def ipl(load_config: Callable[[], BedsConfig] = load) -> System:
    """Run the IPL and return the running System (call `await system.stop()` to shut down)."""
    with _step("config"):
        cfg = load_config()
    with _step("logging"):
        setup_logging(cfg.logging)
        log.info("node %s, roles %s, env %s", cfg.node.name, ", ".join(cfg.node.roles), cfg.env)
    with _step("preflight"):
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
    with _step("amqp"):
        connection = await connect(cfg.amqp, f"beds/{cfg.node.name}/ipl")
        try:
            for queue in await declare_topology(connection, cfg):
                log.info("  declared queue %s", queue)
        finally:
            await connection.close()
    with _step("registry"):
        registry = load_registry(cfg.templates_dir, cfg.stores)
        check_against_config(cfg, registry)
        log.info("  templates: %s", ", ".join(registry.names()) or "none")
    system = System(cfg, registry)
    with _step("ray"):
        system.ray_started = start_ray(cfg)
        require_role_nodes(cfg.node.roles)
    with _step("actors"):
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
    log.info("IPL complete: BEDS %s ready", ", ".join(cfg.node.roles))
    return system
