"""A raw requester that counts every reply per correlation id: duplicates become visible.

`BedsClient` resolves one future per request and ignores any later reply with the same
correlation id, as a client should. A test that must prove "answered exactly once" needs to
see every reply that arrives, which is what `ReplyTap` records.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from beds_actors.config import AmqpConfig


class ReplyTap:
    """Publishes requests with its own reply queue and keeps every reply that comes back."""

    def __init__(self, amqp: AmqpConfig, exchange: str | None = None) -> None:
        self.amqp = amqp
        self.exchange_name = exchange or amqp.exchange
        self.replies: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self.reply_queue = f"beds.reply.tap.{uuid.uuid4().hex}"
        self._arrived = asyncio.Condition()
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None

    async def __aenter__(self) -> ReplyTap:
        self._connection = await aio_pika.connect_robust(
            self.amqp.url, client_properties={"connection_name": "beds-reply-tap"}
        )
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        queue = await self._channel.declare_queue(
            self.reply_queue, exclusive=True, auto_delete=True
        )
        await queue.consume(self._on_reply, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def publish(
        self,
        routing_key: str,
        body: dict[str, Any] | bytes,
        *,
        reply: bool = True,
        **properties: Any,
    ) -> str:
        """Publish one persistent request (confirmed, mandatory); returns its correlation id.

        With `reply=False` the request carries no `reply_to` (fire-and-forget).
        """
        assert self._channel is not None, "use `async with ReplyTap(...)`"
        cid = uuid.uuid4().hex
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        props: dict[str, Any] = {
            "message_id": cid,
            "content_type": "application/json",
            "delivery_mode": aio_pika.DeliveryMode.PERSISTENT,
            **properties,
        }
        reply_to = self.reply_queue if reply else None
        message = aio_pika.Message(raw, correlation_id=cid, reply_to=reply_to, **props)
        exchange = await self._channel.get_exchange(self.exchange_name, ensure=False)
        await exchange.publish(message, routing_key=routing_key, mandatory=True)
        return cid

    def answered(self, cids: list[str]) -> int:
        """How many of `cids` have at least one reply."""
        return sum(1 for cid in cids if self.replies.get(cid))

    async def wait_answered(self, cids: list[str], timeout_s: float) -> None:
        """Wait until each of `cids` has a reply (AssertionError after `timeout_s`)."""
        async with self._arrived:
            try:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: self.answered(cids) == len(cids)), timeout_s
                )
            except TimeoutError:
                missing = len(cids) - self.answered(cids)
                raise AssertionError(f"{missing} of {len(cids)} requests unanswered") from None

    def counts(self, cids: list[str]) -> dict[int, int]:
        """How many requests got 0, 1, 2, ... replies, e.g. {1: 1000}."""
        out: dict[int, int] = {}
        for cid in cids:
            n = len(self.replies.get(cid, []))
            out[n] = out.get(n, 0) + 1
        return out

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        self.replies[message.correlation_id or ""].append(orjson.loads(message.body))
        async with self._arrived:
            self._arrived.notify_all()
