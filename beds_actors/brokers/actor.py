"""The broker Ray actor: a Dispatcher whose batches go to the store's adapter actors."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import ray

from beds_actors.brokers.dispatcher import Dispatcher
from beds_actors.config import BedsConfig
from beds_actors.core.namaste import Call, Outcome
from beds_actors.logs import setup_logging
from beds_actors.registry import Registry


# No Ray restarts: a restarted actor would not consume until start() is called again.
@ray.remote(max_restarts=0)
class BrokerActor:
    """Ray lifecycle around one Dispatcher: start() connects and consumes; stop() drains."""

    def __init__(
        self,
        cfg: BedsConfig,
        broker: str,
        instance: int,
        registry: Registry,
        adapters: dict[str, list[Any]],
    ) -> None:
        setup_logging(cfg.logging)
        self._adapters = {store: itertools.cycle(handles) for store, handles in adapters.items()}
        self.dispatcher = Dispatcher(cfg, broker, instance, registry, self._run_batch)

    async def _run_batch(self, store: str, calls: Sequence[Call]) -> list[Outcome]:
        handle = next(self._adapters[store])
        result: list[Outcome] = await handle.run_batch.remote(list(calls))
        return result

    async def start(self) -> str:
        """Connect to RabbitMQ and start consuming; returns the instance name."""
        await self.dispatcher.start()
        return self.dispatcher.name

    async def stop(self) -> dict[str, int]:
        """Stop consuming, finish in-flight requests, close; returns the final counters."""
        await self.dispatcher.stop()
        return vars(self.dispatcher.stats)

    async def stats(self) -> dict[str, int]:
        """Counters since start."""
        return dict(vars(self.dispatcher.stats))
