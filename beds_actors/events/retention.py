"""Retention: the admin role purges events older than `events.retention_days`, on a schedule."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from beds_actors.config import BedsConfig
from beds_actors.events.system import SystemLog

log = logging.getLogger("beds.retention")
LOGGER = "mst_logger"


class Retention:
    """Lifecycle: start() purges now and every `events.purge_interval_s`; stop() ends it."""

    def __init__(self, cfg: BedsConfig, adapter: Any, syslog: SystemLog) -> None:
        self.cfg = cfg
        self.adapter = adapter  # the logger store's adapter actor
        self.syslog = syslog
        self.purged = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin purging in the background."""
        self._task = asyncio.create_task(self._run(), name="beds-retention")

    async def stop(self) -> None:
        """Stop purging (a purge under way is cancelled; the DBA procedure works in chunks)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        days = self.cfg.events.retention_days
        while True:
            with contextlib.suppress(Exception):
                await self.purge_once(days)
            await asyncio.sleep(self.cfg.events.purge_interval_s)

    async def purge_once(self, days: float) -> int:
        """One purge; the count is a system event, a failure a warning (tried again later)."""
        try:
            count = int(await self.adapter.purge.remote(LOGGER, days))
        except Exception as exc:
            self.syslog.emit("purge", f"events older than {days:g} days: {exc!r}", status="error")
            raise
        self.purged += count
        if count:
            self.syslog.emit("purge", f"{count} event(s) older than {days:g} days deleted")
        return count
