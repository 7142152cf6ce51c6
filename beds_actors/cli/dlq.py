"""`beds dlq list|show|replay|purge`: what operators do with dead-lettered requests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import orjson
import typer
from aio_pika.abc import AbstractRobustConnection
from rich.table import Table

from beds_actors.amqp import dlq as ops
from beds_actors.amqp.topology import connect, dlq_name
from beds_actors.cli.common import config_or_exit, fail, stdout_console
from beds_actors.config import BedsConfig

app = typer.Typer(help="Dead-lettered requests (docs/reliability.md).", no_args_is_help=True)
out = stdout_console()
T = TypeVar("T")
Broker = Annotated[str, typer.Argument(help="broker name, e.g. wBroker (of this node's role)")]


def _run(cfg: BedsConfig, job: Callable[[AbstractRobustConnection], Awaitable[T]]) -> T:
    async def main() -> T:
        connection = await connect(cfg.amqp, "beds-cli-dlq")
        try:
            return await job(connection)
        finally:
            await connection.close()

    try:
        return asyncio.run(main())
    except Exception as exc:
        fail(f"dlq: {exc}")
        raise typer.Exit(1) from None


def _brokers(cfg: BedsConfig, broker: str | None) -> list[str]:
    if broker is None:
        return list(cfg.role.brokers)
    if broker not in cfg.role.brokers:
        fail(f"no broker {broker!r} in role {cfg.node.role} (have: {', '.join(cfg.role.brokers)})")
        raise typer.Exit(2)
    return [broker]


@app.command("list")
def list_(
    broker: Annotated[str | None, typer.Argument(help="one broker; default: all")] = None,
    limit: Annotated[int, typer.Option(help="most messages shown per DLQ")] = 20,
) -> None:
    """Show each DLQ's depth and its first parked requests."""
    cfg = config_or_exit()
    dlqs = [dlq_name(cfg.queue_name(name)) for name in _brokers(cfg, broker)]

    async def job(c: AbstractRobustConnection) -> list[tuple[str, int, list[ops.Parked]]]:
        return [(q, await ops.depth(c, q), await ops.browse(c, q, limit)) for q in dlqs]

    for dlq, depth, parked in _run(cfg, job):
        table = Table(title=f"{dlq}: {depth} parked")
        for column in ("#", "reason", "attempts", "parked at", "message_id", "error"):
            table.add_column(column)
        for p in parked:
            row = (p.position, p.reason, p.attempts or "", p.parked_at, p.message_id, p.error[:80])
            table.add_row(*(str(v or "") for v in row))
        out.print(table)


@app.command()
def show(broker: Broker, limit: Annotated[int, typer.Option()] = 20) -> None:
    """Print parked requests in full (headers and body) as JSON lines."""
    cfg = config_or_exit()
    dlq = dlq_name(cfg.queue_name(_brokers(cfg, broker)[0]))
    for parked in _run(cfg, lambda c: ops.browse(c, dlq, limit)):
        print(orjson.dumps(parked.as_dict()).decode())


@app.command()
def replay(
    broker: Broker,
    limit: Annotated[int | None, typer.Option(help="most messages to move; default all")] = None,
) -> None:
    """Move parked requests back to the broker queue as fresh first attempts."""
    cfg = config_or_exit()
    queue = cfg.queue_name(_brokers(cfg, broker)[0])
    moved = _run(cfg, lambda c: ops.replay(c, dlq_name(queue), queue, limit))
    out.print(f"replayed {moved} request(s) from {dlq_name(queue)} to {queue}")


@app.command()
def purge(
    broker: Broker,
    yes: Annotated[
        bool, typer.Option("--yes", help="confirm: parked requests are dropped")
    ] = False,
) -> None:
    """Drop every parked request of a broker (asks for --yes)."""
    cfg = config_or_exit()
    dlq = dlq_name(cfg.queue_name(_brokers(cfg, broker)[0]))
    if not yes:
        fail(f"this drops every request parked in {dlq}; run again with --yes")
        raise typer.Exit(2)
    dropped = _run(cfg, lambda c: ops.purge(c, dlq))
    out.print(f"purged {dropped} request(s) from {dlq}")
