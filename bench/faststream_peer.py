"""Peer: the same job as a FastStream RabbitMQ subscriber with aiomysql.

Idiomatic FastStream RPC: the subscriber returns the reply and FastStream publishes it to
reply_to (with the request's correlation_id) on a confirming channel, then acks the request
(ack policy REJECT_ON_ERROR: the ack comes after the handler and its reply publish). Tuned as a
competent deployment would be: prefetch 128 like BEDS, pool 10, uvloop, the raw body decoded
with orjson (no pydantic model), per-message access logging off (logger=None).

    python bench/faststream_peer.py --exchange beds_bench_fs
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import aiomysql
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitMessage, RabbitQueue
from faststream.rabbit.schemas import Channel, ExchangeType
from peer_common import (
    INIT_COMMAND,
    Ids,
    Refused,
    decode,
    error_reply,
    ok_reply,
    peer_options,
    plan,
    shape,
)


def options() -> argparse.Namespace:
    return peer_options(__doc__.splitlines()[0], "beds_bench_fs", None)


def build(opts: argparse.Namespace, pools: dict[str, Any]) -> RabbitBroker:
    broker = RabbitBroker(
        opts.url, logger=None, default_channel=Channel(prefetch_count=opts.prefetch)
    )
    exchange = RabbitExchange(opts.exchange, type=ExchangeType.DIRECT, durable=True)
    ids = Ids(f"faststream.{opts.exchange}")

    async def raw_body(msg: RabbitMessage) -> bytes:
        """Custom decoder: hand the body over as bytes; orjson decodes it in the handler."""
        return msg.body

    async def handle(body: bytes, msg: RabbitMessage) -> bytes:
        req: dict[str, Any] | None = None
        try:
            req = decode(body)
            p = plan(req, msg.message_id)
            async with pools["db"].acquire() as conn, conn.cursor() as cur:
                await cur.execute(p.sql, p.args)
                rows = list(await cur.fetchall())
                while await cur.nextset():
                    pass
            return ok_reply(req, ids, shape(p, rows))
        except Refused as exc:
            return error_reply(req, ids, exc.code, exc.message)
        except Exception as exc:
            return error_reply(req, ids, "internal_error", repr(exc))

    for key in opts.keys.split(","):
        queue = RabbitQueue(f"{opts.exchange}.{key}", durable=True, routing_key=key)
        broker.subscriber(queue, exchange, decoder=raw_body)(handle)
    return broker


async def serve(opts: argparse.Namespace) -> None:
    pools: dict[str, Any] = {}
    pools["db"] = await aiomysql.create_pool(
        host="127.0.0.1", port=3306, user="beds", password="beds", db=opts.db,
        minsize=opts.pool, maxsize=opts.pool, autocommit=True, charset="utf8mb4",
        init_command=INIT_COMMAND,
    )  # fmt: skip
    broker = build(opts, pools)
    await broker.start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print(f"READY faststream on {opts.exchange}", flush=True)
    await stop.wait()
    await broker.stop()
    pools["db"].close()
    await pools["db"].wait_closed()


if __name__ == "__main__":
    options_ = options()
    if options_.no_uvloop:
        asyncio.run(serve(options_))
    else:
        import uvloop

        uvloop.run(serve(options_))
