"""The exchange, the per-broker queues and their retry/dead-letter queues (docs/reliability.md)."""

from __future__ import annotations

from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, AbstractRobustConnection

from beds_actors.config import AmqpConfig, BedsConfig
from beds_actors.config.models import QueueType


class AmqpUnavailable(Exception):
    """RabbitMQ refused or did not answer; the message names host:port and what to check."""


def control_exchange_name(cfg: AmqpConfig) -> str:
    """The fanout exchange admin commands are published to; every node listens on it."""
    return f"{cfg.exchange}.control"


def dlq_name(queue: str) -> str:
    """The dead-letter queue of a broker queue."""
    return f"{queue}.dlq"


def retry_queue_name(queue: str, delay_ms: int) -> str:
    """The TTL queue that holds a retry for `delay_ms` before it returns to `queue`."""
    return f"{queue}.retry.{delay_ms}ms"


async def connect(cfg: AmqpConfig, name: str) -> AbstractRobustConnection:
    """Open a robust (auto-reconnecting) connection, with an actionable error on failure."""
    try:
        return await aio_pika.connect_robust(
            cfg.url,
            timeout=cfg.connect_timeout_s,
            client_properties={"connection_name": name},
            heartbeat=cfg.heartbeat_s,
            reconnect_interval=cfg.reconnect_interval_s,
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


def _type_args(queue_type: QueueType) -> dict[str, Any]:
    return {"x-queue-type": queue_type}


async def _declare(channel: AbstractChannel, name: str, args: dict[str, Any]) -> AbstractQueue:
    try:
        return await channel.declare_queue(name, durable=True, arguments=args)
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        raise AmqpUnavailable(
            f"queue {name!r} already exists with other arguments than {args} ({exc}). It was "
            "made by an older BEDS or with another queue_type: drain it, delete it "
            f"(`rabbitmqctl delete_queue {name}`) and start again"
        ) from None


async def declare_broker_queue(
    channel: AbstractChannel,
    cfg: BedsConfig,
    broker: str,
    exchange: AbstractExchange,
    role: str | None = None,
) -> AbstractQueue:
    """Declare a broker's queue, its DLQ and TTL retry queues; bind it as `<role>.<broker>`.

    Rejected messages and (quorum) messages past the native delivery limit dead-letter to the
    DLQ; the dispatcher's own guards normally park them first, with an error reply.
    """
    name, queue_type = cfg.queue_name(broker, role), cfg.queue_type(broker, role)
    await _declare(channel, dlq_name(name), _type_args(queue_type))
    for delay_ms in cfg.retry.delays_ms():
        await _declare(
            channel,
            retry_queue_name(name, delay_ms),
            {
                "x-message-ttl": delay_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": name,
            },
        )
    args: dict[str, Any] = {
        **_type_args(queue_type),
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": dlq_name(name),
    }
    if queue_type == "quorum":
        args["x-delivery-limit"] = cfg.retry.max_deliveries + 2  # backstop only
    limit = cfg.broker(role or cfg.node.role, broker).max_length_bytes
    if limit is not None:
        # Past the limit RabbitMQ nacks new publishes: the sender counts them, nothing vanishes.
        args["x-max-length-bytes"] = limit
        args["x-overflow"] = "reject-publish"
    queue = await _declare(channel, name, args)
    await queue.bind(exchange, routing_key=cfg.routing_key(broker, role))
    return queue


def node_queues(cfg: BedsConfig) -> list[tuple[str, str]]:
    """(role, broker) of every queue this node declares: its brokers', plus the events queues.

    Every node declares the logs brokers' queues, so its events wait there even while no
    admin node runs yet.
    """
    pairs = [(role, broker) for role, broker, _ in cfg.brokers()]
    if cfg.events_on:
        for route in (cfg.events.route, cfg.events.system_route):
            role, _, broker = route.partition(".")
            if (role, broker) not in pairs:
                pairs.append((role, broker))
    return pairs


async def declare_topology(connection: AbstractRobustConnection, cfg: BedsConfig) -> list[str]:
    """Declare the exchange and every queue of this node; return the broker queues."""
    async with connection.channel() as channel:
        exchange = await declare_exchange(channel, cfg.amqp)
        names = []
        for role, broker in node_queues(cfg):
            queue = await declare_broker_queue(channel, cfg, broker, exchange, role)
            names.append(queue.name)
        return names


async def delete_topology(connection: AbstractRobustConnection, cfg: BedsConfig) -> None:
    """Delete this node's queues (with their retry queues and DLQs) and the exchange."""
    async with connection.channel() as channel:
        for role, broker in node_queues(cfg):
            name = cfg.queue_name(broker, role)
            for queue in [
                name,
                dlq_name(name),
                *(retry_queue_name(name, ms) for ms in cfg.retry.delays_ms()),
            ]:
                await channel.queue_delete(queue)
        await channel.exchange_delete(cfg.amqp.exchange)
        await channel.exchange_delete(control_exchange_name(cfg.amqp))
