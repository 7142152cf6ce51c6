"""The adapter Ray actor: owns one store's connection pool and runs batches of calls on it."""

from __future__ import annotations

import os

import ray

from beds_actors.adapters.base import run_batch
from beds_actors.adapters.factory import build_adapter
from beds_actors.config import BedsConfig
from beds_actors.core.namaste import Call, Outcome
from beds_actors.logs import setup_logging
from beds_actors.registry import Registry


@ray.remote(max_restarts=-1, max_task_retries=0)
class AdapterActor:
    """Shared by the brokers of a node; calls for one store arrive in batches, run concurrently."""

    def __init__(self, cfg: BedsConfig, store: str, registry: Registry) -> None:
        setup_logging(cfg.logging)
        self.store = store
        self.timeout_s = cfg.limits.request_timeout_s
        self.registry = registry
        self.adapter = build_adapter(store, cfg.stores[store])

    async def start(self) -> str:
        """Open the pool (or defer it when the database is down right now)."""
        await self.adapter.start()
        return self.store

    async def run_batch(self, calls: list[Call]) -> list[Outcome]:
        """Run every call concurrently; one Outcome per call, in order."""
        return await run_batch(self.adapter, self.registry, calls, self.timeout_s)

    async def purge(self, template: str, older_than_days: float) -> int:
        """Run the template's retention procedure; how many records it deleted."""
        return await self.adapter.purge(self.registry.templates[template], older_than_days)

    async def ping(self) -> bool:
        """True when the database answers."""
        await self.adapter.ping()
        return True

    async def pid(self) -> int:
        """OS process id (operators and fault tests)."""
        return os.getpid()

    async def stop(self) -> None:
        """Close the pool."""
        await self.adapter.stop()
