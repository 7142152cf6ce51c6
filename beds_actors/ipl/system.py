"""A running BEDS node: its adapter actors, its broker pool, its supervisor, and stop()."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import ray
from aio_pika.abc import AbstractRobustConnection

from beds_actors.adapters.actor import AdapterActor
from beds_actors.admin.server import ControlServer
from beds_actors.brokers.pool import BrokerPool
from beds_actors.config import BedsConfig
from beds_actors.events.retention import LOGGER, Retention
from beds_actors.events.system import SystemLog
from beds_actors.ipl.placement import selector
from beds_actors.ipl.supervisor import Supervisor
from beds_actors.registry import Registry

log = logging.getLogger("beds.system")


@dataclass
class System:
    """Everything this node spawned; `stop()` is the coordinated shutdown."""

    cfg: BedsConfig
    registry: Registry
    syslog: SystemLog
    connection: AbstractRobustConnection | None = None  # the node's own (system events)
    ray_started: bool = False
    adapters: dict[str, list[Any]] = field(default_factory=dict)
    pool: BrokerPool | None = None
    supervisor: Supervisor | None = None
    control: ControlServer | None = None
    retention: Retention | None = None
    shutdown_requested: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def brokers(self) -> dict[str, Any]:
        """Broker actor handles by name (`beds/<role>/<broker>/<i>`)."""
        return self.pool.actors if self.pool is not None else {}

    async def spawn(self) -> None:
        """Start the adapter actors of the stores in use, then every configured broker."""
        await self._spawn_adapters()
        self.pool = BrokerPool(self.cfg, self.registry, self.adapters)
        await self.pool.start_configured()
        self.supervisor = Supervisor(
            self.pool.actors, self.cfg.ray.supervise_interval_s, self.syslog
        )
        self.supervisor.start()
        self.control = ControlServer(
            self.cfg, self.pool, self.restarts, self.syslog, self.shutdown_requested.set
        )
        await self.control.start()
        self._start_retention()

    def _start_retention(self) -> None:
        """The admin role keeps the logger store within `events.retention_days`."""
        tpl = self.registry.get(LOGGER)
        handles = self.adapters.get(tpl.store, []) if tpl is not None else []
        if (
            "admin" in self.cfg.node.roles
            and tpl is not None
            and "purge" in tpl.objects
            and handles
        ):
            self.retention = Retention(self.cfg, handles[0], self.syslog)
            self.retention.start()

    def restarts(self) -> dict[str, int]:
        """Restarts per broker instance since this node started."""
        return dict(self.supervisor.restarts) if self.supervisor is not None else {}

    async def _spawn_adapters(self) -> None:
        """Adapter actors are pooled per store and shared by every broker of this node."""
        pending = {}
        for store in sorted(self.registry.by_store()):
            if self.cfg.stores[store].placement != "actor":
                continue
            handles = [
                AdapterActor.options(  # type: ignore[attr-defined]
                    name=f"beds/{self.cfg.node.name}/adapter/{store}/{i}",
                    namespace=self.cfg.ray.namespace,
                    num_cpus=0,
                    label_selector=selector(*self.cfg.node.roles),
                ).remote(self.cfg, store, self.registry)
                for i in range(self.cfg.stores[store].actors)
            ]
            self.adapters[store] = handles
            pending.update({h.start.remote(): f"adapter of store {store}" for h in handles})
        await _started(pending, self.cfg.ray.actor_start_timeout_s)

    async def stop(self) -> dict[str, Any]:
        """Stop consuming everywhere, drain in-flight work, close pools, release the actors."""
        self.syslog.emit("shutdown", f"node {self.cfg.node.name} stopping")
        if self.retention is not None:
            await self.retention.stop()
        if self.control is not None:
            await self.control.stop()
        if self.supervisor is not None:
            await self.supervisor.stop()
        stats = await self.pool.stop_all() if self.pool is not None else {}
        adapters = [h for hs in self.adapters.values() for h in hs]
        await asyncio.gather(*(h.stop.remote() for h in adapters), return_exceptions=True)
        for handle in adapters:
            ray.kill(handle, no_restart=True)
        self.adapters.clear()
        if self.ray_started:
            ray.shutdown()
        await self.syslog.stop()
        if self.connection is not None:
            await self.connection.close()
            self.connection = None
        return stats


async def _started(pending: dict[Any, str], timeout_s: float) -> None:
    """Await actor start() calls; name each one that failed or was never placed."""

    async def wait(ref: Any) -> Any:
        return await ref

    tasks = {asyncio.ensure_future(wait(ref)): name for ref, name in pending.items()}
    if not tasks:
        return
    done, not_done = await asyncio.wait(tasks, timeout=timeout_s)
    problems = []
    for task in not_done:
        task.cancel()
        problems.append(
            f"{tasks[task]}: not started within {timeout_s:g}s (no node with free resources and "
            "the right role label? see `ray status`)"
        )
    for task in done:
        if task.exception() is not None:
            problems.append(f"{tasks[task]}: {task.exception()}")
    if problems:
        raise RuntimeError("actors failed to start:\n  - " + "\n  - ".join(sorted(problems)))
