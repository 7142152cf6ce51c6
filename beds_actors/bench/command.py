"""The `beds bench` command; heavy imports happen only when it runs."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from beds_actors.bench.workload import Target


def _target(
    url: str | None, exchange: str | None, read_key: str | None, write_key: str | None
) -> Target:
    """Options win; whatever is missing comes from the BEDS config (`$BEDS_CONFIG`)."""
    from beds_actors.bench.workload import Target

    if url and exchange and read_key and write_key:
        return Target(url, exchange, read_key, write_key)
    from beds_actors.config import ConfigError, load

    try:
        cfg = load()
    except ConfigError as exc:
        raise typer.BadParameter(
            f"give --url, --exchange, --read-key and --write-key, or a valid config: {exc}"
        ) from None
    routes: dict[str, str] = {}  # each op goes to the first broker serving it (as BedsClient)
    for broker, bcfg in cfg.role.brokers.items():
        for op in bcfg.ops:
            routes.setdefault(op, broker)
    return Target(
        url or cfg.amqp.url,
        exchange or cfg.amqp.exchange,
        read_key or cfg.routing_key(routes.get("fetch", "rBroker")),
        write_key or cfg.routing_key(routes.get("create", "wBroker")),
    )


_MIX_HELP = "an op or weights, e.g. read=8,create=1,fetch=1 (read: by guid; fetch: by email)"
_INFLIGHT = typer.Option("--inflight", "-n", min=1, help="requests kept in flight")
_DURATION = typer.Option("--duration", "-d", min=0.1, help="measured seconds")
_WARMUP = typer.Option(min=0.0, help="seconds run before measuring")
_MIX = typer.Option("--mix", "--op", help=_MIX_HELP)
_SEED = typer.Option(min=1, help="records created first (reads pick among them)")
_URL = typer.Option(help="AMQP URL; default from config")
_EXCHANGE = typer.Option(help="request exchange; default from config")
_READ_KEY = typer.Option(help="routing key for fetch; default from config")
_WRITE_KEY = typer.Option(help="routing key for create; default from config")
_SYSTEM = typer.Option(help="label for the system under test")
_TIMEOUT = typer.Option(help="seconds to wait for one reply")
_JSON_OUT = typer.Option(help="write the JSON result here ('-' = stdout)")
_QUIET = typer.Option(help="no live progress display")


def bench_command(
    inflight: Annotated[int, _INFLIGHT] = 16,
    duration: Annotated[float, _DURATION] = 10.0,
    warmup: Annotated[float, _WARMUP] = 1.0,
    mix: Annotated[str, _MIX] = "read",
    seed: Annotated[int, _SEED] = 500,
    url: Annotated[str | None, _URL] = None,
    exchange: Annotated[str | None, _EXCHANGE] = None,
    read_key: Annotated[str | None, _READ_KEY] = None,
    write_key: Annotated[str | None, _WRITE_KEY] = None,
    system: Annotated[str, _SYSTEM] = "",
    timeout: Annotated[float, _TIMEOUT] = 30.0,
    json_out: Annotated[Path | None, _JSON_OUT] = None,
    quiet: Annotated[bool, _QUIET] = False,
) -> None:
    """Load-test a BEDS (or any system with its wire contract) over AMQP RPC and report."""
    import orjson
    from rich.console import Console

    from beds_actors.bench.load import LoadSpec, run_load
    from beds_actors.bench.report import live_progress, print_summary
    from beds_actors.bench.rpc import RpcClient, RpcError
    from beds_actors.bench.workload import parse_mix
    from beds_actors.bench.workload import seed as seed_records

    try:
        spec = LoadSpec(inflight, duration, warmup, parse_mix(mix))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    target = _target(url, exchange, read_key, write_key)
    to_stdout = json_out is not None and str(json_out) == "-"
    console = Console(stderr=to_stdout)
    status = Console(stderr=True)

    async def main() -> dict[str, Any]:
        async with RpcClient(target.url, target.exchange, timeout_s=timeout) as client:
            status.print(f"seeding {seed} records via {target.write_key} on {target.exchange} …")
            work = await seed_records(client, target, seed)
            if quiet:
                return await run_load(client, target, work, spec, system=system)
            with live_progress(status, f"{system or target.exchange} x{inflight}") as update:
                return await run_load(client, target, work, spec, on_progress=update, system=system)

    try:
        result = _run(main())
    except (RpcError, RuntimeError, OSError) as exc:
        status.print(f"[red]bench failed: {exc}[/red]")
        raise typer.Exit(2) from None
    print_summary(console, result)
    if json_out is not None:
        text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
        if to_stdout:
            sys.stdout.write(text + "\n")
        else:
            json_out.write_text(text + "\n")
    raise typer.Exit(1 if result["errors"] else 0)


def _run(coro: Any) -> Any:
    """Run under uvloop when installed (as Ray's actors do), else plain asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)
