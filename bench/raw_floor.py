"""The raw floor: ONE plain process, an aio-pika RPC consumer calling aiomysql directly.

No Ray, no framework. Same wire contract as BEDS: one queue per routing key on a direct
exchange, manual ack with a prefetch window, the reply published to reply_to with publisher
confirms awaited, and only then the request acked. uvloop (as Ray gives every BEDS actor),
orjson, a tuple cursor and a pool sized like BEDS's (10).

    python bench/raw_floor.py --exchange beds_bench_raw
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

import aio_pika
import aiomysql
from aio_pika.abc import AbstractIncomingMessage
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


def options(argv: list[str] | None = None) -> argparse.Namespace:
    return peer_options(__doc__.splitlines()[0], "beds_bench_raw", argv)


async def serve(opts: argparse.Namespace) -> None:
    pool = await aiomysql.create_pool(
        host="127.0.0.1", port=3306, user="beds", password="beds", db=opts.db,
        minsize=opts.pool, maxsize=opts.pool, autocommit=True, charset="utf8mb4",
        init_command=INIT_COMMAND,
    )  # fmt: skip
    connection = await aio_pika.connect_robust(
        opts.url, client_properties={"connection_name": "bench-raw-floor"}
    )
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=opts.prefetch)
    exchange = await channel.declare_exchange(
        opts.exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    ids = Ids(f"raw.{opts.exchange}")

    async def run(body: bytes, message_id: str | None) -> bytes:
        req: dict[str, Any] | None = None
        try:
            req = decode(body)
            p = plan(req, message_id)
            async with pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute(p.sql, p.args)
                rows = list(await cur.fetchall())
                while await cur.nextset():  # a CALL returns an extra result set
                    pass
            return ok_reply(req, ids, shape(p, rows))
        except Refused as exc:
            return error_reply(req, ids, exc.code, exc.message)
        except Exception as exc:
            return error_reply(req, ids, "internal_error", repr(exc))

    async def on_message(message: AbstractIncomingMessage) -> None:
        reply = await run(message.body, message.message_id)
        if message.reply_to:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    reply, correlation_id=message.correlation_id, content_type="application/json"
                ),
                routing_key=message.reply_to,
                mandatory=False,
            )
        await message.ack()

    consumers = []
    for key in opts.keys.split(","):
        queue = await channel.declare_queue(f"{opts.exchange}.{key}", durable=True)
        await queue.bind(exchange, routing_key=key)
        consumers.append((queue, await queue.consume(on_message)))
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print(f"READY raw floor on {opts.exchange}", flush=True)
    await stop.wait()
    for queue, tag in consumers:
        await queue.cancel(tag)
    await connection.close()
    pool.close()
    await pool.wait_closed()


def main() -> None:
    opts = options()
    if opts.no_uvloop:
        asyncio.run(serve(opts))
    else:
        import uvloop

        uvloop.run(serve(opts))
    sys.exit(0)


if __name__ == "__main__":
    main()
