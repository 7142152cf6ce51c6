"""The event recorder: a bounded in-process buffer, published in confirmed batches.

The request path only appends to a buffer: it never waits for RabbitMQ or the logger store.
A background task publishes batches to the logs broker's queue, where events wait while the
store is down. Whatever cannot be kept (the buffer is full while RabbitMQ is away, or the
logs queue refuses more past its length limit) is counted in `dropped`, never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from beds_actors.config import BedsConfig
from beds_actors.events.model import EVENTS_TYPE, encode

log = logging.getLogger("beds.events")


@dataclass
class RecorderStats:
    recorded: int = 0
    published: int = 0
    dropped: int = 0


class EventRecorder:
    """Lifecycle: start(connection) publishes in the background; stop() flushes what it can."""

    def __init__(self, cfg: BedsConfig, route: str) -> None:
        self.cfg = cfg
        self.events = cfg.events
        self.on = cfg.events_on
        self.route = route
        self.stats = RecorderStats()
        self._buffer: deque[list[Any]] = deque()
        self._wake = asyncio.Event()
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._task: asyncio.Task[None] | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        """False when events are off: record() then costs one attribute check."""
        return self.on

    def record(self, event: list[Any]) -> None:
        """Buffer one event (see `model.event`); never blocks, never raises."""
        if not self.on:
            return
        self.stats.recorded += 1
        if len(self._buffer) >= self.events.buffer:
            self.stats.dropped += 1
            if not self._warned:
                self._warned = True
                log.warning(
                    "event buffer full (%d, events.buffer): dropping events until RabbitMQ "
                    "takes them again; `beds status` counts them",
                    self.events.buffer,
                )
            return
        self._buffer.append(event)
        if len(self._buffer) >= self.events.batch:
            self._wake.set()

    async def start(self, connection: AbstractRobustConnection) -> None:
        """Open a confirming channel on `connection` and start publishing."""
        if not self.on:
            return
        self._channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await self._channel.get_exchange(self.cfg.amqp.exchange, ensure=False)
        self._task = asyncio.create_task(self._run(), name=f"beds-events->{self.route}")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Publish what is buffered (within `timeout_s`), then close the channel."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout_s):
                while self._buffer:
                    if not await self._publish_one_batch():
                        break
        if self._buffer:
            self.stats.dropped += len(self._buffer)
            log.warning("%d event(s) not published at shutdown", len(self._buffer))
            self._buffer.clear()
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
            self._channel = None

    async def _run(self) -> None:
        pause = self.events.flush_ms / 1000
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)
            self._wake.clear()
            while self._buffer:
                if not await self._publish_one_batch():
                    await asyncio.sleep(pause)  # RabbitMQ is away: keep the events, try later
                    break

    async def _publish_one_batch(self) -> bool:
        """Publish the oldest batch; False when RabbitMQ could not take it right now."""
        assert self._exchange is not None
        count = min(len(self._buffer), self.events.batch)
        batch = [self._buffer[i] for i in range(count)]
        message = aio_pika.Message(
            encode(batch),
            type=EVENTS_TYPE,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            await self._exchange.publish(message, routing_key=self.route, mandatory=True)
        except aio_pika.exceptions.DeliveryError as exc:
            # Returned (no logs queue bound) or nacked (the logs queue is at its length limit).
            self._drop(count, f"RabbitMQ refused them ({exc})")
            return True
        except Exception as exc:  # connection or channel gone: aio-pika reconnects
            log.debug("events not published yet: %r", exc)
            return False
        for _ in range(count):
            self._buffer.popleft()
        self.stats.published += count
        self._warned = False
        return True

    def _drop(self, count: int, why: str) -> None:
        for _ in range(count):
            self._buffer.popleft()
        self.stats.dropped += count
        log.warning("dropped %d event(s) for %s: %s", count, self.route, why)
