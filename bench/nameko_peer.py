"""Peer: the same job as a Nameko service (eventlet), replying to reply_to.

Nameko has no RPC-over-reply_to for foreign clients (its own RPC uses its own exchange and
headers), so this uses its `@consume` entrypoint, subclassed to hand the worker the raw body and
the AMQP properties, and its `Publisher` dependency to publish the reply to the default exchange
with the request's correlation_id (publisher confirms on, Nameko's default). Nameko acks the
request after the worker returns, i.e. after the confirmed reply. The database is PyMySQL
(green under eventlet's monkey-patching) with a pool of 10 connections, like BEDS's.
max_workers = 128 (it is also Nameko's prefetch), like BEDS's prefetch.

    python bench/nameko_peer.py --exchange beds_bench_nameko
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import signal  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

import pymysql  # noqa: E402
from eventlet.queue import LightQueue  # noqa: E402
from kombu import Exchange, Queue  # noqa: E402
from nameko.containers import ContainerBeingKilled  # noqa: E402
from nameko.messaging import Consumer, Publisher  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from peer_common import (  # noqa: E402
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
    return peer_options(__doc__.splitlines()[0], "beds_bench_nameko", None, workers="--max-workers")


class RawConsumer(Consumer):
    """`@consume` that passes (raw body, AMQP properties) instead of the decoded body."""

    def handle_message(self, body: Any, message: Any) -> None:
        handle_result = partial(self.handle_result, message)
        try:
            self.container.spawn_worker(
                self,
                (message.body, message.properties),
                {},
                context_data=self.unpack_message_headers(message),
                handle_result=handle_result,
            )
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)


class Db:
    """A fixed pool of PyMySQL connections (green sockets under eventlet)."""

    def __init__(self, size: int, database: str) -> None:
        self.free: LightQueue = LightQueue()
        for _ in range(size):
            conn = pymysql.connect(
                host="127.0.0.1", port=3306, user="beds", password="beds", database=database,
                autocommit=True, charset="utf8mb4", init_command=INIT_COMMAND,
            )  # fmt: skip
            self.free.put(conn)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        conn = self.free.get()
        try:
            yield conn
        finally:
            self.free.put(conn)


def make_service(opts: argparse.Namespace) -> type:
    exchange = Exchange(opts.exchange, type="direct", durable=True)
    read_key, write_key = opts.keys.split(",")
    db = Db(opts.pool, opts.db)
    ids = Ids(f"nameko.{opts.exchange}")

    def queue(key: str) -> Queue:
        return Queue(f"{opts.exchange}.{key}", exchange=exchange, routing_key=key, durable=True)

    class BenchService:
        name = "beds_bench_nameko"
        reply = Publisher()

        def _serve(self, body: bytes, props: dict[str, Any]) -> None:
            req: dict[str, Any] | None = None
            try:
                req = decode(body)
                p = plan(req, props.get("message_id"))
                with db.connection() as conn, conn.cursor() as cur:
                    cur.execute(p.sql, p.args)
                    rows = list(cur.fetchall())
                    while cur.nextset():
                        pass
                out = ok_reply(req, ids, shape(p, rows))
            except Refused as exc:
                out = error_reply(req, ids, exc.code, exc.message)
            except Exception as exc:
                out = error_reply(req, ids, "internal_error", repr(exc))
            if props.get("reply_to"):
                self.reply(
                    out,
                    routing_key=props["reply_to"],
                    correlation_id=props.get("correlation_id"),
                    content_type="application/json",
                    content_encoding="utf-8",
                )

        @RawConsumer.decorator(queue=queue(read_key))
        def on_read(self, body: bytes, props: dict[str, Any]) -> None:
            self._serve(body, props)

        @RawConsumer.decorator(queue=queue(write_key))
        def on_write(self, body: bytes, props: dict[str, Any]) -> None:
            self._serve(body, props)

    return BenchService


def main() -> None:
    opts = options()
    runner = ServiceRunner({"AMQP_URI": opts.url, "max_workers": opts.max_workers})
    runner.add_service(make_service(opts))
    stopping = eventlet.event.Event()

    def on_signal(*_: Any) -> None:
        if not stopping.ready():
            stopping.send(None)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner.start()
    print(f"READY nameko on {opts.exchange}", flush=True)
    stopping.wait()
    runner.stop()


if __name__ == "__main__":
    main()
