"""Supervision: notice broker actors that Ray restarted and make them consume again."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from beds_actors.events.system import SystemLog

log = logging.getLogger("beds.supervisor")


class Supervisor:
    """Checks every broker each interval; a restarted one is started and the event logged."""

    def __init__(self, brokers: Mapping[str, Any], interval_s: float, syslog: SystemLog) -> None:
        self.brokers = brokers
        self.interval_s = interval_s
        self.syslog = syslog
        self.restarts: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin watching in the background."""
        self._task = asyncio.create_task(self._watch(), name="beds-supervisor")

    async def stop(self) -> None:
        """Stop watching (before a coordinated shutdown, so nothing is restarted mid-way)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            names = list(self.brokers)
            results = await asyncio.gather(
                *(self._check(n, self.brokers[n]) for n in names), return_exceptions=True
            )
            for name, result in zip(names, results, strict=True):
                _, role, broker, _ = name.split("/")
                if isinstance(result, BaseException):
                    self.syslog.emit(
                        "broker not answering",
                        f"{name}: {result!r}",
                        status="warning",
                        role=role,
                        broker=broker,
                    )
                elif result is not None:
                    self.restarts[name] += 1
                    self.syslog.emit(
                        "respawn",
                        f"broker {name} {result} (restart #{self.restarts[name]})",
                        status="warning",
                        role=role,
                        broker=broker,
                    )

    async def _check(self, name: str, handle: Any) -> str | None:
        async with asyncio.timeout(max(10 * self.interval_s, 10.0)):
            cause: str | None = await handle.ensure_started.remote()
            return cause
