"""Each node consumes its own control queue and runs the admin commands meant for it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError

from beds_actors.admin.auth import authorise
from beds_actors.admin.commands import Command, NodeReply
from beds_actors.amqp.topology import connect, control_exchange_name
from beds_actors.brokers.pool import BrokerPool
from beds_actors.config import BedsConfig
from beds_actors.events.system import SystemLog

log = logging.getLogger("beds.admin")


class ControlServer:
    """Lifecycle: start() binds `<prefix>control.<node>` to the control exchange; stop()."""

    def __init__(
        self,
        cfg: BedsConfig,
        pool: BrokerPool,
        restarts: Callable[[], dict[str, int]],
        syslog: SystemLog,
        on_shutdown: Callable[[], None],
    ) -> None:
        self.cfg = cfg
        self.pool = pool
        self.restarts = restarts
        self.syslog = syslog
        self.on_shutdown = on_shutdown
        self._connection: AbstractRobustConnection | None = None

    async def start(self) -> None:
        """Connect and consume this node's control queue."""
        self._connection = await connect(self.cfg.amqp, f"beds/{self.cfg.node.name}/control")
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            control_exchange_name(self.cfg.amqp), aio_pika.ExchangeType.FANOUT, durable=True
        )
        queue = await channel.declare_queue(
            f"{self.cfg.amqp.queue_prefix}control.{self.cfg.node.name}",
            exclusive=True,
            auto_delete=True,
        )
        await queue.bind(exchange)
        await queue.consume(self._on_command)

    async def stop(self) -> None:
        """Stop taking commands."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _on_command(self, message: AbstractIncomingMessage) -> None:
        async with message.process(ignore_processed=True):
            reply = await self._run(message.body, _who(message))
            if message.reply_to and self._connection is not None:
                channel = await self._connection.channel()
                try:
                    body = aio_pika.Message(
                        reply.model_dump_json().encode(),
                        correlation_id=message.correlation_id,
                        content_type="application/json",
                    )
                    await channel.default_exchange.publish(body, routing_key=message.reply_to)
                finally:
                    await channel.close()
            if reply.data.get("shutting_down"):
                self.on_shutdown()

    async def _run(self, body: bytes, who: str) -> NodeReply:
        node = self.cfg.node.name
        try:
            cmd = Command.model_validate_json(body)
        except ValidationError as exc:
            return NodeReply(node=node, status="error", message=f"bad admin command: {exc}")
        what = f"admin {cmd.command}" + (f" {cmd.target}" if cmd.target else "")
        what += f" {cmd.count}" if cmd.count is not None else ""
        refused = authorise(self.cfg, cmd.token)
        if refused:
            self.syslog.emit(what, f"refused, asked by {who}: {refused}", status="refused")
            return NodeReply(node=node, status="error", message=refused)
        started = self.syslog.emit(what, f"accepted, asked by {who}")
        try:
            reply = await self._dispatch(cmd)
        except Exception as exc:
            log.exception("admin command %s failed", cmd.command)
            reply = NodeReply(node=node, status="error", message=f"{type(exc).__name__}: {exc}")
        if reply.handled and cmd.command != "status":
            outcome = reply.message or str(reply.data)
            self.syslog.emit(
                what, f"{reply.status}: {outcome}", status=reply.status, parent=started
            )
        return reply

    async def _status(self) -> dict[str, object]:
        """Every broker of this node: instances with their counters, and its queue."""
        assert self._connection is not None
        pool, restarts = self.pool, self.restarts()
        brokers = []
        async with self._connection.channel() as channel:
            for role, broker, _ in self.cfg.brokers():
                name = self.cfg.queue_name(broker, role)
                queue = await channel.declare_queue(name, passive=True)
                instances = []
                for instance in sorted(pool.instances(role, broker)):
                    try:
                        stats = await asyncio.wait_for(pool.actors[instance].stats.remote(), 5)
                    except Exception as exc:  # a dead or restarting actor still gets a row
                        stats = {"error": type(exc).__name__}
                    instances.append(
                        {"name": instance, "restarts": restarts.get(instance, 0), **stats}
                    )
                brokers.append(
                    {
                        "role": role,
                        "broker": broker,
                        "queue": name,
                        "depth": queue.declaration_result.message_count,
                        "consumers": queue.declaration_result.consumer_count,
                        "instances": instances,
                    }
                )
        events = self.syslog.recorder.stats
        return {
            "roles": list(self.cfg.node.roles),
            "brokers": brokers,
            "system_events": {"published": events.published, "dropped": events.dropped},
        }

    async def _dispatch(self, cmd: Command) -> NodeReply:
        node, pool = self.cfg.node.name, self.pool
        if cmd.command == "status":
            return NodeReply(node=node, status="ok", data=await self._status())
        if cmd.command == "shutdown":
            return NodeReply(node=node, status="ok", data={"shutting_down": True})
        role, broker = cmd.split_target()
        if cmd.target is None or role not in self.cfg.node.roles:
            return NodeReply(node=node, status="ok", handled=False, message="not on this node")
        if broker not in self.cfg.roles[role].brokers:
            known = ", ".join(self.cfg.roles[role].brokers)
            return NodeReply(
                node=node, status="error", message=f"no broker {broker!r} in {role} ({known})"
            )
        if cmd.command == "scale":
            if cmd.count is None:
                return NodeReply(node=node, status="error", message="scale needs a count")
            names = await pool.scale(role, broker, cmd.count)
        else:
            names = await pool.swap(role, broker)
        return NodeReply(node=node, status="ok", data={"instances": names})


def _who(message: AbstractIncomingMessage) -> str:
    """Who sent a command: the AMQP user (RabbitMQ checks `user_id` against the connection's
    login when it is set) and the sender's app id."""
    user = message.user_id or "(no user_id)"
    return f"user {user}" + (f" via {message.app_id}" if message.app_id else "")
