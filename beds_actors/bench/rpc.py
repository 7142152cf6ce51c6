"""A lean aio-pika RPC client with the BedsClient wire contract (docs/protocol.md §13)."""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)


class RpcError(Exception):
    """The request was not routed, or no reply came back in time."""


class RpcClient:
    """One connection, confirmed mandatory publishes, one exclusive reply queue.

    Unlike BedsClient it uses a counter for correlation ids and caches the exchange, so the
    generator spends as little CPU as possible on the machine it shares with the system under
    test. Every request carries `message_id` (the idempotency key), like BedsClient's.
    """

    def __init__(self, url: str, exchange: str, *, timeout_s: float = 30.0) -> None:
        self.url = url
        self.exchange_name = exchange
        self.timeout_s = timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._replies: AbstractQueue | None = None
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._ids = itertools.count(1)
        self._tag = f"{os.getpid():x}-{os.urandom(3).hex()}"

    async def connect(self) -> RpcClient:
        """Connect, open a confirming channel and consume the reply queue."""
        self._connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": "beds-bench"}
        )
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._replies = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        await self._replies.consume(self._on_reply, no_ack=True)
        self._exchange = await self._channel.get_exchange(self.exchange_name, ensure=False)
        return self

    async def close(self) -> None:
        """Fail pending calls and close the connection."""
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(RpcError("client closed"))
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def __aenter__(self) -> RpcClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, routing_key: str, body: dict[str, Any]) -> dict[str, Any]:
        """Publish one request and return the decoded reply."""
        assert self._exchange is not None and self._replies is not None, "connect() first"
        cid = f"{self._tag}-{next(self._ids)}"
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[cid] = fut
        message = aio_pika.Message(
            orjson.dumps(body),
            content_type="application/json",
            correlation_id=cid,
            message_id=cid,
            reply_to=self._replies.name,
        )
        try:
            try:
                await self._exchange.publish(message, routing_key=routing_key, mandatory=True)
            except aio_pika.exceptions.DeliveryError as exc:
                raise RpcError(
                    f"nothing bound to {routing_key!r} on exchange {self.exchange_name!r}: {exc}"
                ) from None
            try:
                async with asyncio.timeout(self.timeout_s):
                    raw = await fut
            except TimeoutError:
                raise RpcError(f"no reply within {self.timeout_s:g}s") from None
        finally:
            self._waiting.pop(cid, None)
        decoded: dict[str, Any] = orjson.loads(raw)
        return decoded

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        fut = self._waiting.get(message.correlation_id or "")
        if fut is not None and not fut.done():
            fut.set_result(message.body)
