"""The broker pool of a node: spawn, retire, scale and hot-swap broker actors by name."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray

from beds_actors.brokers.actor import BrokerActor
from beds_actors.config import BedsConfig
from beds_actors.ipl.placement import selector
from beds_actors.registry import Registry

log = logging.getLogger("beds.pool")


def instance_name(role: str, broker: str, index: int) -> str:
    """Stable, readable actor name, e.g. `beds/appServer/rBroker/0`."""
    return f"beds/{role}/{broker}/{index}"


class BrokerPool:
    """Broker actors by name. Adding waits until the new one consumes; retiring drains first."""

    def __init__(self, cfg: BedsConfig, registry: Registry, adapters: dict[str, list[Any]]) -> None:
        self.cfg = cfg
        self.registry = registry
        self.adapters = adapters
        self.actors: dict[str, Any] = {}
        self._of: dict[str, tuple[str, str]] = {}  # name -> (role, broker)
        self._lock = asyncio.Lock()  # one scale/swap at a time

    def instances(self, role: str, broker: str) -> list[str]:
        """Names of the running instances of one broker."""
        return [n for n, rb in self._of.items() if rb == (role, broker)]

    async def add(self, role: str, broker: str) -> str:
        """Start one more instance (lowest free index) and wait until it consumes."""
        used = {int(n.rsplit("/", 1)[1]) for n in self.instances(role, broker)}
        index = next(i for i in range(len(used) + 1) if i not in used)
        name = instance_name(role, broker, index)
        self._of[name] = (role, broker)  # reserved before any await: concurrent adds differ
        handle = BrokerActor.options(  # type: ignore[attr-defined]
            name=name,
            namespace=self.cfg.ray.namespace,
            num_cpus=self.cfg.broker(role, broker).num_cpus,
            label_selector=selector(role),
        ).remote(self.cfg, role, broker, index, self.registry, self.adapters)
        try:
            async with asyncio.timeout(self.cfg.ray.actor_start_timeout_s):
                await handle.start.remote()
        except BaseException as exc:
            self._of.pop(name, None)
            ray.kill(handle, no_restart=True)
            if isinstance(exc, TimeoutError):
                raise RuntimeError(
                    f"{name}: not started within {self.cfg.ray.actor_start_timeout_s:g}s (no "
                    f"node with label role={role} or role=any and free resources? `ray status`)"
                ) from None
            raise
        self.actors[name] = handle
        return name

    async def retire(self, name: str) -> dict[str, int]:
        """Stop consuming, finish in-flight work, then remove the actor."""
        handle = self.actors.pop(name)
        self._of.pop(name, None)
        try:
            stats: dict[str, int] = await handle.stop.remote()
        finally:
            ray.kill(handle, no_restart=True)
        return stats

    async def scale(self, role: str, broker: str, count: int) -> list[str]:
        """Add or drain instances until `count` consume; returns the instance names."""
        self.cfg.broker(role, broker)  # KeyError for a broker this node does not run
        async with self._lock:
            while len(self.instances(role, broker)) < count:
                log.info("scale %s.%s: adding an instance", role, broker)
                await self.add(role, broker)
            while len(self.instances(role, broker)) > count:
                victim = max(self.instances(role, broker), key=lambda n: int(n.rsplit("/", 1)[1]))
                log.info("scale %s.%s: draining %s", role, broker, victim)
                await self.retire(victim)
            return sorted(self.instances(role, broker))

    async def swap(self, role: str, broker: str) -> list[str]:
        """Replace every instance one at a time: the new one consumes before the old one stops."""
        async with self._lock:
            for old in list(self.instances(role, broker)):
                new = await self.add(role, broker)
                await self.retire(old)
                log.info("swap %s.%s: %s replaced %s", role, broker, new, old)
            return sorted(self.instances(role, broker))

    async def start_configured(self) -> None:
        """Start every configured instance of every broker of this node, concurrently."""
        results = await asyncio.gather(
            *(
                self.add(role, broker)
                for role, broker, bcfg in self.cfg.brokers()
                for _ in range(bcfg.instances)
            ),
            return_exceptions=True,
        )
        problems = sorted(str(r) for r in results if isinstance(r, BaseException))
        if problems:
            raise RuntimeError("broker actors failed to start:\n  - " + "\n  - ".join(problems))

    async def stop_all(self) -> dict[str, Any]:
        """Drain and remove every instance; returns each one's final counters (or error)."""
        names = list(self.actors)
        results = await asyncio.gather(*(self.retire(n) for n in names), return_exceptions=True)
        return dict(zip(names, results, strict=True))
