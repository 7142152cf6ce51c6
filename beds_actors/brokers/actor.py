"""The broker Ray actor: a Dispatcher whose batches go to the store's adapter actors."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Sequence
from typing import Any

import ray

from beds_actors.adapters import Adapter, build_adapter, run_batch
from beds_actors.brokers.dispatcher import Dispatcher
from beds_actors.config import BedsConfig
from beds_actors.core.namaste import Call, Outcome
from beds_actors.logs import setup_logging
from beds_actors.registry import Registry

_ADAPTER_RETRY_S = 0.2


# Ray restarts a dead broker process (same handle, same name); the supervisor then calls
# ensure_started(), because consuming needs an async start that __init__ cannot do.
@ray.remote(max_restarts=-1, max_task_retries=0)
class BrokerActor:
    """Ray lifecycle around one Dispatcher: start() connects and consumes; stop() drains."""

    def __init__(
        self,
        cfg: BedsConfig,
        role: str,
        broker: str,
        instance: int,
        registry: Registry,
        adapters: dict[str, list[Any]],
    ) -> None:
        setup_logging(cfg.logging)
        self.registry = registry
        self.timeout_s = cfg.limits.request_timeout_s
        self._adapters = {store: itertools.cycle(handles) for store, handles in adapters.items()}
        # Stores placed "in_broker" get their adapter in this process: no Ray hop per batch.
        self._local: dict[str, Adapter] = {
            store: build_adapter(store, cfg.stores[store])
            for store in registry.by_store()
            if cfg.stores[store].placement == "in_broker"
        }
        self.dispatcher = Dispatcher(cfg, role, broker, instance, registry, self._run_batch)
        self._started = False
        self._stopping = False

    async def _run_batch(self, store: str, calls: Sequence[Call]) -> list[Outcome]:
        local = self._local.get(store)
        if local is not None:
            return await run_batch(local, self.registry, calls, self.timeout_s)
        # An adapter actor that Ray is restarting answers ActorUnavailableError at once; wait
        # for it (or the next one) within the request budget instead of burning a retry.
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while True:
            handle = next(self._adapters[store])
            try:
                result: list[Outcome] = await handle.run_batch.remote(list(calls))
                return result
            except ray.exceptions.ActorUnavailableError:
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                await asyncio.sleep(_ADAPTER_RETRY_S)

    async def start(self) -> str:
        """Open in-process adapters, connect to RabbitMQ and start consuming."""
        for adapter in self._local.values():
            await adapter.start()
        await self.dispatcher.start()
        self._started = True
        return self.dispatcher.name

    async def ensure_started(self) -> str | None:
        """Start if this process is a restart that is not consuming yet; returns why, or None."""
        if self._started or self._stopping:
            return None
        await self.start()
        if ray.get_runtime_context().was_current_actor_reconstructed:
            return "its process died; Ray restarted it and it consumes again"
        return "started"

    async def stop(self) -> dict[str, int]:
        """Stop consuming, finish in-flight requests, close; returns the final counters."""
        self._stopping = True
        await self.dispatcher.stop()
        for adapter in self._local.values():
            await adapter.stop()
        return await self.stats()

    async def pid(self) -> int:
        """OS process id (operators and fault tests)."""
        return os.getpid()

    async def node_id(self) -> str:
        """The Ray node this instance runs on."""
        return ray.get_runtime_context().get_node_id()

    async def stats(self) -> dict[str, int]:
        """Counters since start, messages received and not yet acked (`inflight`), and the
        events this instance published to the logger store or had to drop."""
        events = self.dispatcher.recorder.stats
        return {
            **vars(self.dispatcher.stats),
            "inflight": self.dispatcher.inflight,
            "events_published": events.published,
            "events_dropped": events.dropped,
        }
