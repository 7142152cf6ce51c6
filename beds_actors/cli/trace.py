"""`beds trace EVENT_ID`: the whole tree an event belongs to, from any event in it."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import orjson
import typer

from beds_actors.cli.common import config_or_exit, fail


def trace(
    event_id: Annotated[str, typer.Argument(help="any event id of the trace (root or child)")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array of the events")] = False,
    wait: Annotated[float, typer.Option(help="seconds to wait for a trace not stored yet")] = 5.0,
) -> None:
    """Print the trace: indented, in start order, with where, what, outcome and durations."""
    from beds_actors.client import BedsClient, BedsClientError
    from beds_actors.events.chain import build, fetch_chain, render

    cfg = config_or_exit()

    async def main() -> list[dict[str, Any]]:
        async with BedsClient.from_config(cfg, timeout_s=30) as client:
            deadline = asyncio.get_running_loop().time() + wait
            while True:
                events = await fetch_chain(client, event_id)
                if events or asyncio.get_running_loop().time() >= deadline:
                    return events
                await asyncio.sleep(0.25)  # events reach the store within a moment

    try:
        events = asyncio.run(main())
    except (BedsClientError, LookupError) as exc:
        fail(f"trace {event_id}: {exc}")
        raise typer.Exit(2) from None
    except OSError as exc:
        fail(f"cannot reach RabbitMQ at {cfg.amqp.where}: {exc}")
        raise typer.Exit(2) from None
    if not events:
        fail(
            f"no events stored for {event_id!r} (is the admin role running? events off? "
            "see `beds status`, events columns)"
        )
        raise typer.Exit(1)
    if as_json:
        sys.stdout.write(orjson.dumps(events, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    for line in render(build(events)):
        print(line)
