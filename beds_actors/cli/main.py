"""`beds`: run a node (`up`), call it (`call`), deploy DBA objects (`schema apply`), config."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Annotated, Any

import orjson
import typer

from beds_actors.bench.command import bench_command
from beds_actors.cli.admin import register as register_admin_commands
from beds_actors.cli.common import config_or_exit, err, fail
from beds_actors.cli.dlq import app as dlq_app
from beds_actors.cli.trace import trace as trace_command
from beds_actors.config import ConfigError
from beds_actors.registry import TemplateError, load_registry
from beds_actors.registry.checks import check_against_config

app = typer.Typer(
    help="BEDS — AMQP-first data backend on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="DBA-owned schema objects.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(config_app, name="config")
app.add_typer(dlq_app, name="dlq")
register_admin_commands(app)
app.command("bench")(bench_command)  # load generator; see bench/README.md
app.command("trace")(trace_command)


def _json_arg(value: str | None, option: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        fail(f"{option}: not valid JSON ({exc})")
        raise typer.Exit(2) from None
    if not isinstance(parsed, dict):
        fail(f'{option}: must be a JSON object, like \'{{"name": "Ada"}}\'')
        raise typer.Exit(2)
    return parsed


@app.command()
def up() -> None:
    """Run the IPL and stay resident until SIGINT/SIGTERM, then shut down cleanly."""
    from beds_actors.ipl import IplError, ipl
    from beds_actors.ipl.ray_runtime import dashboard_hint

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            system = await ipl()
        except IplError as exc:
            fail(str(exc))
            return 1
        # After IPL on purpose: ray.init() installs its own SIGTERM handler, which would crash
        # the driver instead of shutting down cleanly.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        err.print("[green]BEDS ready[/green] — Ctrl-C (or `beds shutdown`) to stop")
        hint = dashboard_hint()
        if hint:
            err.print(hint, markup=False, highlight=False)
        stopper = asyncio.ensure_future(system.shutdown_requested.wait())
        await asyncio.wait(
            [asyncio.ensure_future(stop.wait()), stopper], return_when=asyncio.FIRST_COMPLETED
        )
        err.print("shutting down: stop consuming, finish in-flight, close pools ...")
        stats = await system.stop()
        counters = [s for s in stats.values() if isinstance(s, dict)]
        answered = sum(s.get("replied_ok", 0) + s.get("replied_error", 0) for s in counters)
        err.print(
            f"stopped cleanly: {len(stats)} broker instance(s), {answered} request(s) answered"
            + (
                f", {len(stats) - len(counters)} did not stop cleanly"
                if len(counters) < len(stats)
                else ""
            )
        )
        return 0

    raise typer.Exit(asyncio.run(main()))


@app.command()
def call(
    template: str,
    op: str,
    data: Annotated[str | None, typer.Option(help="record fields, a JSON object")] = None,
    query: Annotated[str | None, typer.Option(help="selection, a JSON object")] = None,
    limit: Annotated[int | None, typer.Option(help="most records a fetch returns")] = None,
    broker: Annotated[str | None, typer.Option(help="broker name; default by op")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the reply")] = 30.0,
) -> None:
    """Send one request and print the reply; exit 1 on an error reply."""
    from beds_actors.client import BedsClient, BedsClientError

    cfg = config_or_exit()
    payload, selection = _json_arg(data, "--data"), _json_arg(query, "--query")

    async def main() -> dict[str, Any]:
        async with BedsClient.from_config(cfg, timeout_s=timeout) as client:
            return await client.call(template, op, payload, selection, limit=limit, broker=broker)

    try:
        reply = asyncio.run(main())
    except BedsClientError as exc:
        fail(str(exc))
        raise typer.Exit(2) from None
    except OSError as exc:
        fail(f"cannot reach RabbitMQ at {cfg.amqp.where}: {exc}")
        raise typer.Exit(2) from None
    sys.stdout.write(orjson.dumps(reply, option=orjson.OPT_INDENT_2).decode() + "\n")
    raise typer.Exit(0 if reply.get("status") == "ok" else 1)


@schema_app.command("apply")
def schema_apply() -> None:
    """Apply every store's versioned DBA SQL files (idempotent)."""
    from beds_actors.stores.schema import SchemaError, apply_schema

    cfg = config_or_exit()

    async def main() -> None:
        for name, store in cfg.stores.items():
            if not store.schema_dir or store.kind != "mariadb":
                why = f"kind {store.kind}" if store.schema_dir else "no schema_dir"
                err.print(f"store {name}: skipped ({why})")
                continue
            applied = await apply_schema(name, store)
            status = ", ".join(applied) if applied else "up to date"
            err.print(f"store {name} ({store.master.where}): {status}")

    try:
        asyncio.run(main())
    except SchemaError as exc:
        fail(str(exc))
        raise typer.Exit(1) from None


@config_app.command("check")
def config_check() -> None:
    """Validate config and templates; print a summary (no secrets)."""
    cfg = config_or_exit()
    try:
        registry = load_registry(cfg.templates_dir, cfg.stores)
        check_against_config(cfg, registry)
    except (TemplateError, ConfigError) as exc:
        fail(str(exc))
        raise typer.Exit(2) from None
    print(f"env {cfg.env}, node {cfg.node.name}, roles {', '.join(cfg.node.roles)}")
    print(f"amqp {cfg.amqp.where} exchange {cfg.amqp.exchange!r}")
    for name, store in cfg.stores.items():
        print(f"store {name}: {store.kind} {store.master.where} pool {store.pool_size}")
    for role, broker, bcfg in cfg.brokers():
        served = "all templates" if bcfg.templates is None else ", ".join(bcfg.templates) or "none"
        print(
            f"broker {cfg.routing_key(broker, role)}: {bcfg.instances} x, "
            f"ops {', '.join(bcfg.ops)}; templates: {served}"
        )
    print(f"templates: {', '.join(registry.names())}")
    rels = [f"{r.parent}.{r.include} → {r.child}" for r in registry.relations.values()]
    print(f"relations: {', '.join(sorted(rels)) or 'none'}")


def _main() -> None:  # pragma: no cover - `python -m beds_actors.cli.main`
    with contextlib.suppress(KeyboardInterrupt):
        app()


if __name__ == "__main__":
    _main()
