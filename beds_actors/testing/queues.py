"""What RabbitMQ holds: messages ready and consumers per queue, read with passive declares."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import aio_pika
import aiormq

from beds_actors.amqp.topology import dlq_name
from beds_actors.config import AmqpConfig, BedsConfig


class QueueState(NamedTuple):
    """A queue as RabbitMQ reports it (ready excludes messages delivered and not yet acked)."""

    ready: int
    consumers: int


async def queue_states(amqp: AmqpConfig, names: Iterable[str]) -> dict[str, QueueState | None]:
    """State of each named queue; None for a queue that does not exist."""
    out: dict[str, QueueState | None] = {}
    connection = await aio_pika.connect(amqp.url, timeout=amqp.connect_timeout_s)
    try:
        for name in names:
            # A passive declare of a missing queue closes the channel: one channel per queue.
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:
                out[name] = None
                continue
            result = queue.declaration_result
            out[name] = QueueState(result.message_count or 0, result.consumer_count or 0)
            await channel.close()
    finally:
        await connection.close()
    return out


async def dlq_depths(cfg: BedsConfig, brokers: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Messages parked in the DLQ of each (role, broker), keyed by `<role>.<broker>`."""
    pairs = list(brokers)
    names = {f"{r}.{b}": dlq_name(cfg.queue_name(b, r)) for r, b in pairs}
    states = await queue_states(cfg.amqp, names.values())
    out = {}
    for key, name in names.items():
        state = states[name]
        if state is None:
            raise AssertionError(f"DLQ {name} does not exist")
        out[key] = state.ready
    return out
