"""Send one admin command to every node and collect their replies."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from beds_actors.admin.commands import Command, NodeReply
from beds_actors.amqp.topology import control_exchange_name
from beds_actors.config import BedsConfig


class AdminError(Exception):
    """The command could not be delivered, or no node answered in time."""


def admin_token(cfg: BedsConfig) -> str:
    """The token to send: `$BEDS_ADMIN_TOKEN`, else `admin.token` from config."""
    return os.environ.get("BEDS_ADMIN_TOKEN") or cfg.admin.token


async def broadcast(
    cfg: BedsConfig, command: Command, *, timeout_s: float = 120.0, settle_s: float = 1.0
) -> list[NodeReply]:
    """Publish `command` to every node; return the replies.

    Waits for the first reply that handled the command (or any reply, for status and
    shutdown), then `settle_s` more for the other nodes.
    """
    connection = await aio_pika.connect(cfg.amqp.url, timeout=cfg.amqp.connect_timeout_s)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        replies: list[NodeReply] = []
        enough = asyncio.Event()
        correlation_id = uuid.uuid4().hex

        async def on_reply(message: AbstractIncomingMessage) -> None:
            if message.correlation_id != correlation_id:
                return
            reply = NodeReply.model_validate_json(message.body)
            replies.append(reply)
            if reply.handled or command.command in ("status", "shutdown"):
                enough.set()

        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.consume(on_reply, no_ack=True)
        exchange = await channel.get_exchange(control_exchange_name(cfg.amqp), ensure=False)
        body = aio_pika.Message(
            command.model_dump_json().encode(),
            correlation_id=correlation_id,
            reply_to=queue.name,
            content_type="application/json",
            # RabbitMQ refuses a user_id other than this connection's login: nodes can record
            # who asked without trusting the message.
            user_id=cfg.amqp.user,
            app_id=f"beds-cli@{socket.gethostname()}:{os.getpid()}",
        )
        try:
            await exchange.publish(body, routing_key="", mandatory=True)
        except (aio_pika.exceptions.DeliveryError, aio_pika.exceptions.ChannelClosed) as exc:
            raise AdminError(
                f"no BEDS node listens for admin commands on {cfg.amqp.where} "
                f"(exchange {control_exchange_name(cfg.amqp)!r}): is `beds up` running? ({exc})"
            ) from None
        try:
            await asyncio.wait_for(enough.wait(), timeout_s)
        except TimeoutError:
            raise AdminError(
                f"no node handled {command.command} {command.target or ''} within "
                f"{timeout_s:g}s; replies: {[r.model_dump() for r in replies]}"
            ) from None
        await asyncio.sleep(settle_s)
        return replies
    finally:
        await connection.close()
