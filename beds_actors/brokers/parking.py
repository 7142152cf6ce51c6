"""Where a request goes when it is not answered now: a TTL retry queue, or the DLQ."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from beds_actors.amqp.topology import dlq_name, retry_queue_name
from beds_actors.config import BedsConfig
from beds_actors.events.lineage import EVENT

ATTEMPT = "x-beds-attempt"  # 1-based try number of this request
RETURNS = "x-beds-returns"  # deliveries that ended without an ack (classic queues)
QUORUM_RETURNS = "x-delivery-count"  # the same, counted by a quorum queue itself
REASON = "x-beds-reason"
ERROR = "x-beds-error"
ATTEMPTS = "x-beds-attempts"
PARKED_AT = "x-beds-dead-lettered-at"
ORIGIN = "x-beds-queue"
# Per-delivery state that a replay from the DLQ resets; the lineage headers (EVENT, REPLAYS)
# are kept, so a replayed request stays in its trace.
BEDS_HEADERS = (ATTEMPT, RETURNS, REASON, ERROR, ATTEMPTS, PARKED_AT, ORIGIN)


def attempt_of(message: AbstractIncomingMessage) -> int:
    """Which try this delivery is (1 for a fresh request)."""
    return _int((message.headers or {}).get(ATTEMPT), 1)


def returns_of(message: AbstractIncomingMessage) -> int:
    """How many earlier deliveries of this request ended without an ack (crash, lost link)."""
    headers = message.headers or {}
    if QUORUM_RETURNS in headers:
        return _int(headers[QUORUM_RETURNS], 0)
    return _int(headers.get(RETURNS), 0) + (1 if message.redelivered else 0)


def counts_returns_itself(message: AbstractIncomingMessage) -> bool:
    """True on quorum queues, which stamp every redelivery; classic ones need `restamp`."""
    return QUORUM_RETURNS in (message.headers or {})


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class Parking:
    """Publishes copies of a request to its retry queues, its DLQ, or back to its queue."""

    def __init__(self, cfg: BedsConfig, role: str, broker: str) -> None:
        self.cfg = cfg
        self.queue = cfg.queue_name(broker, role)
        self.dlq = dlq_name(self.queue)
        self.channel: AbstractChannel | None = None

    async def retry(
        self, message: AbstractIncomingMessage, attempt: int, error: str, event_id: str
    ) -> None:
        """Send the request back after the backoff delay for `attempt`."""
        delay_ms = self.cfg.retry.delay_ms(attempt)
        headers: dict[str, Any] = {ATTEMPT: attempt, ERROR: error[:1000], RETURNS: 0}
        if event_id:
            headers[EVENT] = event_id
        await self._publish(message, retry_queue_name(self.queue, delay_ms), headers)

    async def dead_letter(
        self,
        message: AbstractIncomingMessage,
        reason: str,
        error: str,
        attempts: int,
        returns: int | None = None,
    ) -> None:
        """Park the request in the DLQ with why, when, and how often it was tried.

        `returns` (deliveries that ended without an answer) is written as `x-beds-returns`:
        a quorum DLQ would overwrite the `x-delivery-count` the copy carried.
        """
        headers: dict[str, Any] = {
            REASON: reason,
            ERROR: error[:1000],
            ATTEMPTS: attempts,
            PARKED_AT: datetime.now(UTC).isoformat(),
            ORIGIN: self.queue,
        }
        if returns is not None:
            headers[RETURNS] = returns
        await self._publish(message, self.dlq, headers)

    async def restamp(self, message: AbstractIncomingMessage, returns: int) -> None:
        """Requeue a redelivered request at the tail with its return count (classic queues)."""
        await self._publish(message, self.queue, {RETURNS: returns})

    async def _publish(
        self, message: AbstractIncomingMessage, queue: str, headers: dict[str, Any]
    ) -> None:
        assert self.channel is not None, "Parking used before the dispatcher started"
        copy = aio_pika.Message(
            message.body,
            headers={**(message.headers or {}), **headers},
            content_type=message.content_type,
            correlation_id=message.correlation_id,
            reply_to=message.reply_to,
            message_id=message.message_id,
            timestamp=message.timestamp,
            type=message.type,  # e.g. a batch of events must stay one
            app_id=message.app_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        # mandatory: a missing retry queue or DLQ must fail loudly, never drop the request.
        await self.channel.default_exchange.publish(copy, routing_key=queue, mandatory=True)
