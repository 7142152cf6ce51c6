"""Operator access to dead-letter queues: browse, replay into the broker queue, purge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustConnection

from beds_actors.brokers.parking import ATTEMPTS, BEDS_HEADERS, ERROR, PARKED_AT, REASON
from beds_actors.events.lineage import REPLAYS


@dataclass(frozen=True)
class Parked:
    """One dead-lettered request, as an operator sees it."""

    position: int
    message_id: str | None
    correlation_id: str | None
    reply_to: str | None
    reason: str
    error: str
    attempts: int | None
    parked_at: str
    headers: dict[str, Any]
    body: bytes

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (body as text)."""
        out = dict(vars(self))
        out["body"] = self.body.decode("utf-8", "replace")
        out["headers"] = {k: _plain(v) for k, v in self.headers.items()}
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _reason(headers: dict[str, Any]) -> str:
    if REASON in headers:
        return str(headers[REASON])
    deaths = headers.get("x-death") or []  # dead-lettered by RabbitMQ itself (reject, limit)
    return f"rabbitmq:{_plain(deaths[0].get('reason'))}" if deaths else "unknown"


async def browse(connection: AbstractRobustConnection, dlq: str, limit: int) -> list[Parked]:
    """Read up to `limit` parked requests without removing them (they return on close)."""
    out: list[Parked] = []
    async with connection.channel() as channel:
        queue = await channel.declare_queue(dlq, passive=True)
        for position in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = dict(message.headers or {})
            out.append(
                Parked(
                    position=position,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    reply_to=message.reply_to,
                    reason=_reason(headers),
                    error=str(_plain(headers.get(ERROR, ""))),
                    attempts=int(str(headers[ATTEMPTS])) if ATTEMPTS in headers else None,
                    parked_at=str(_plain(headers.get(PARKED_AT, ""))),
                    headers=headers,
                    body=message.body,
                )
            )
        # Closing the channel without acks hands every message back to the DLQ.
    return out


async def depth(connection: AbstractRobustConnection, queue: str) -> int:
    """Messages ready in a queue."""
    async with connection.channel() as channel:
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def replay(
    connection: AbstractRobustConnection, dlq: str, queue: str, limit: int | None = None
) -> int:
    """Move parked requests back to their broker queue as fresh first attempts.

    Moves at most what was parked when it started: a replayed request that fails at once and
    is parked again is not picked up a second time by the same replay.
    """
    moved = 0
    async with connection.channel(publisher_confirms=True, on_return_raises=True) as channel:
        source = await channel.declare_queue(dlq, passive=True)
        parked = source.declaration_result.message_count or 0
        budget = parked if limit is None else min(limit, parked)
        while moved < budget:
            message = await source.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = {k: v for k, v in (message.headers or {}).items() if k not in BEDS_HEADERS}
            headers.pop("x-death", None)
            headers[REPLAYS] = _count(headers.get(REPLAYS)) + 1  # the trace shows each replay
            copy = aio_pika.Message(
                message.body,
                headers=headers,
                content_type=message.content_type,
                correlation_id=message.correlation_id,
                reply_to=message.reply_to,
                message_id=message.message_id,
                timestamp=message.timestamp,
                type=message.type,
                app_id=message.app_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await channel.default_exchange.publish(copy, routing_key=queue, mandatory=True)
            await message.ack()
            moved += 1
    return moved


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


async def purge(connection: AbstractRobustConnection, dlq: str) -> int:
    """Drop every parked request; returns how many."""
    async with connection.channel() as channel:
        queue = await channel.declare_queue(dlq, passive=True)
        result = await queue.purge()
        return int(result.message_count or 0)
