"""The exchange and the per-broker queues every node of a role shares (docs/protocol.md)."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, AbstractRobustConnection

from beds_actors.config import AmqpConfig, BedsConfig


class AmqpUnavailable(Exception):
    """RabbitMQ refused or did not answer; the message names host:port and what to check."""


async def connect(cfg: AmqpConfig, name: str) -> AbstractRobustConnection:
    """Open a robust (auto-reconnecting) connection, with an actionable error on failure."""
    try:
        return await aio_pika.connect_robust(
            cfg.url,
            timeout=cfg.connect_timeout_s,
            client_properties={"connection_name": name},
            heartbeat=cfg.heartbeat_s,
        )
    except aio_pika.exceptions.ProbableAuthenticationError as exc:
        raise AmqpUnavailable(
            f"RabbitMQ at {cfg.where} refused user {cfg.user!r} on vhost {cfg.vhost!r}: {exc} — "
            "check amqp.user / amqp.password / amqp.vhost"
        ) from None
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
        raise AmqpUnavailable(
            f"cannot connect to RabbitMQ at {cfg.where}: {exc!r} — is it running? "
            "(`rabbitmq-server -detached`, or check amqp.host / amqp.port)"
        ) from None


async def declare_exchange(channel: AbstractChannel, cfg: AmqpConfig) -> AbstractExchange:
    """Declare the durable direct request exchange."""
    return await channel.declare_exchange(cfg.exchange, aio_pika.ExchangeType.DIRECT, durable=True)


async def declare_broker_queue(
    channel: AbstractChannel, cfg: BedsConfig, broker: str, exchange: AbstractExchange
) -> AbstractQueue:
    """Declare one broker's durable queue and bind it with routing key `<role>.<broker>`."""
    queue = await channel.declare_queue(cfg.queue_name(broker), durable=True)
    await queue.bind(exchange, routing_key=cfg.routing_key(broker))
    return queue


async def declare_topology(connection: AbstractRobustConnection, cfg: BedsConfig) -> list[str]:
    """Declare the exchange and every queue of this node's role; return the queue names."""
    async with connection.channel() as channel:
        exchange = await declare_exchange(channel, cfg.amqp)
        names = []
        for broker in cfg.role.brokers:
            queue = await declare_broker_queue(channel, cfg, broker, exchange)
            names.append(queue.name)
        return names
