"""A running BEDS node: its adapter and broker actors, and the one way to stop them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import ray

from beds_actors.adapters.actor import AdapterActor
from beds_actors.brokers.actor import BrokerActor
from beds_actors.config import BedsConfig
from beds_actors.ipl.supervisor import Supervisor
from beds_actors.registry import Registry

log = logging.getLogger("beds.system")


@dataclass
class System:
    """Handles to every actor this node spawned; `stop()` is the coordinated shutdown."""

    cfg: BedsConfig
    registry: Registry
    ray_started: bool = False
    adapters: dict[str, list[Any]] = field(default_factory=dict)
    brokers: dict[str, Any] = field(default_factory=dict)
    supervisor: Supervisor | None = None

    async def spawn(self) -> None:
        """Create and start the adapter actors for used stores, then the broker actors."""
        role = self.cfg.node.role
        timeout = self.cfg.ray.actor_start_timeout_s
        for store in sorted(self.registry.by_store()):
            handle = AdapterActor.options(  # type: ignore[attr-defined]
                name=f"beds/{role}/adapter/{store}/0",
                namespace=self.cfg.ray.namespace,
                num_cpus=0,
                label_selector={"role": role},
            ).remote(self.cfg, store, self.registry)
            self.adapters[store] = [handle]
        await _started(
            {h.start.remote(): f"adapter {s}" for s, hs in self.adapters.items() for h in hs},
            timeout,
        )
        for broker, bcfg in self.cfg.role.brokers.items():
            for i in range(bcfg.instances):
                name = f"beds/{role}/{broker}/{i}"
                self.brokers[name] = BrokerActor.options(  # type: ignore[attr-defined]
                    name=name,
                    namespace=self.cfg.ray.namespace,
                    num_cpus=bcfg.num_cpus,
                    label_selector={"role": role},
                ).remote(self.cfg, broker, i, self.registry, self.adapters)
        await _started({h.start.remote(): n for n, h in self.brokers.items()}, timeout)
        self.supervisor = Supervisor(self.brokers, self.cfg.ray.supervise_interval_s)
        self.supervisor.start()

    async def stop(self) -> dict[str, Any]:
        """Stop consuming everywhere, drain in-flight work, close pools, release the actors."""
        stats: dict[str, Any] = {}
        if self.supervisor is not None:
            await self.supervisor.stop()
        results = await asyncio.gather(
            *(h.stop.remote() for h in self.brokers.values()), return_exceptions=True
        )
        for name, result in zip(self.brokers, results, strict=True):
            stats[name] = result
        await asyncio.gather(
            *(h.stop.remote() for hs in self.adapters.values() for h in hs), return_exceptions=True
        )
        for handle in [*self.brokers.values(), *(h for hs in self.adapters.values() for h in hs)]:
            ray.kill(handle, no_restart=True)
        self.brokers.clear()
        self.adapters.clear()
        if self.ray_started:
            ray.shutdown()
        return stats


async def _started(pending: dict[Any, str], timeout_s: float) -> None:
    """Await actor start() calls; name each one that failed or was never placed."""

    async def wait(ref: Any) -> Any:
        return await ref

    tasks = {asyncio.ensure_future(wait(ref)): name for ref, name in pending.items()}
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
