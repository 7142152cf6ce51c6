"""BedsClient: an async AMQP RPC client for BEDS (used by the CLI and the tests)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from yarl import URL

from beds_actors.config import BedsConfig

DEFAULT_ROUTES = {"fetch": "rBroker", "create": "wBroker", "update": "wBroker", "delete": "wBroker"}


class BedsClientError(Exception):
    """The request could not be delivered or no reply came back in time."""


class BedsClient:
    """Publish requests to the `beds` exchange and await replies on a private reply queue."""

    def __init__(
        self,
        url: str = "amqp://guest:guest@127.0.0.1:5672/",
        *,
        exchange: str = "beds",
        role: str = "appServer",
        routes: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.exchange_name = exchange
        self.role = role
        self.routes = dict(routes or DEFAULT_ROUTES)
        self.timeout_s = timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._reply_queue: AbstractQueue | None = None
        self._waiting: dict[str, asyncio.Future[AbstractIncomingMessage]] = {}

    @classmethod
    def from_config(cls, cfg: BedsConfig, role: str | None = None, **kwargs: Any) -> BedsClient:
        """A client for a config's RabbitMQ and exchange, addressing `role` (default: the
        node's first); each op goes to the first of the role's brokers that serves it."""
        role = role or cfg.node.role
        routes: dict[str, str] = {}
        for broker, bcfg in cfg.roles[role].brokers.items():
            for op in bcfg.ops:
                routes.setdefault(op, broker)
        kwargs.setdefault("routes", routes or None)
        return cls(cfg.amqp.url, exchange=cfg.amqp.exchange, role=role, **kwargs)

    async def connect(self) -> BedsClient:
        """Connect and listen on an exclusive reply queue named by the client.

        A client-chosen name survives a reconnect (aio-pika re-declares the same queue), so
        replies to requests sent before a RabbitMQ restart still find their way back.
        """
        self._connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": "beds-client"}, reconnect_interval=1
        )
        # on_return_raises: a mandatory publish that no queue takes fails instead of timing out.
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._reply_queue = await self._channel.declare_queue(
            f"beds.reply.{uuid.uuid4().hex}", exclusive=True, auto_delete=True
        )
        await self._reply_queue.consume(self._on_reply, no_ack=True)
        return self

    async def close(self) -> None:
        """Close the connection; pending calls fail."""
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(BedsClientError("client closed before the reply arrived"))
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def __aenter__(self) -> BedsClient:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def call(
        self,
        template: str,
        op: str,
        data: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        event_id: str | None = None,
        parent_event_id: str | None = None,
        broker: str | None = None,
        timeout_s: float | None = None,
        retries: int = 0,
    ) -> dict[str, Any]:
        """Send one request and return the decoded reply (`status`, `event_id`, `data`/`error`)."""
        body: dict[str, Any] = {"template": template, "op": op}
        for key, value in (
            ("data", data),
            ("query", query),
            ("limit", limit),
            ("event_id", event_id),
            ("parent_event_id", parent_event_id),
        ):
            if value is not None:
                body[key] = value
        routing_key = f"{self.role}.{broker or self.routes.get(op, 'rBroker')}"
        return await self.send(
            orjson.dumps(body), routing_key, timeout_s=timeout_s, retries=retries
        )

    async def send(
        self,
        body: bytes,
        routing_key: str,
        *,
        timeout_s: float | None = None,
        retries: int = 0,
        **properties: Any,
    ) -> dict[str, Any]:
        """Publish raw bytes with reply_to/correlation_id and await the reply (any body)."""
        reply = await self.send_raw(
            body, routing_key, timeout_s=timeout_s, retries=retries, **properties
        )
        decoded: dict[str, Any] = orjson.loads(reply.body)
        return decoded

    async def send_raw(
        self,
        body: bytes,
        routing_key: str,
        *,
        timeout_s: float | None = None,
        retries: int = 0,
        **properties: Any,
    ) -> AbstractIncomingMessage:
        """Like `send` but returns the reply message itself.

        The request is persistent and carries a `message_id`; with `retries`, an unanswered
        request is sent again with the same ids, which BEDS treats idempotently.
        """
        if self._channel is None or self._reply_queue is None:
            raise BedsClientError("not connected: use `async with BedsClient(...)` or connect()")
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[AbstractIncomingMessage] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = future
        props = {
            "content_type": "application/json",
            "delivery_mode": aio_pika.DeliveryMode.PERSISTENT,
            **properties,
        }
        props.setdefault("message_id", correlation_id)  # makes a redelivered create idempotent
        # With message_id, the send time fixes the request's event id across redeliveries.
        props.setdefault("timestamp", datetime.now(UTC))
        message = aio_pika.Message(
            body, correlation_id=correlation_id, reply_to=self._reply_queue.name, **props
        )
        timeout = timeout_s or self.timeout_s
        try:
            for _ in range(retries + 1):
                deadline = asyncio.get_running_loop().time() + timeout
                await self._publish(message, routing_key, deadline)
                try:
                    async with asyncio.timeout_at(deadline):
                        return await asyncio.shield(future)
                except TimeoutError:
                    continue
            raise BedsClientError(
                f"no reply from {routing_key!r} within {timeout:g}s x {retries + 1} "
                "(is BEDS up? `beds up`)"
            )
        finally:
            self._waiting.pop(correlation_id, None)

    async def _publish(self, message: aio_pika.Message, routing_key: str, deadline: float) -> None:
        """Publish with confirm; while RabbitMQ is unreachable, wait for the reconnect."""
        assert self._channel is not None and self._connection is not None
        while True:
            try:
                exchange = await self._channel.get_exchange(self.exchange_name, ensure=False)
                await exchange.publish(message, routing_key=routing_key, mandatory=True)
                return
            except aio_pika.exceptions.DeliveryError as exc:
                raise BedsClientError(
                    f"no queue is bound to routing key {routing_key!r} on exchange "
                    f"{self.exchange_name!r} — is BEDS running with that broker? ({exc})"
                ) from None
            except aiormq.exceptions.ChannelNotFoundEntity:
                raise BedsClientError(
                    f"exchange {self.exchange_name!r} does not exist on {self._where()} — "
                    "has `beds up` ever run against this RabbitMQ and vhost? (amqp.exchange)"
                ) from None
            except (aio_pika.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise BedsClientError(f"cannot publish to RabbitMQ: {exc!r}") from None
                await asyncio.sleep(min(0.2, remaining))

    def _where(self) -> str:
        """host:port/vhost of the URL, without credentials."""
        url = URL(self.url)
        return f"{url.host}:{url.port}{url.path}"

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._waiting.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message)
