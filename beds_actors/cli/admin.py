"""`beds status | scale | swap | shutdown`: admin commands, over AMQP, to every node."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from beds_actors.admin.client import AdminError, admin_token, broadcast
from beds_actors.admin.commands import Command, CommandName, NodeReply
from beds_actors.cli.common import config_or_exit, fail, stdout_console

out = stdout_console()
Target = Annotated[str, typer.Argument(help="<role>.<broker>, e.g. appServer.rBroker")]


def _send(
    name: CommandName, target: str | None = None, count: int | None = None
) -> list[NodeReply]:
    cfg = config_or_exit()
    if target is not None:
        role, _, broker = target.partition(".")
        if broker not in (cfg.roles[role].brokers if role in cfg.roles else {}):
            known = ", ".join(f"{r}.{b}" for r, rc in cfg.roles.items() for b in rc.brokers)
            fail(f"{target!r} is not a configured broker (configured: {known})")
            raise typer.Exit(2)
    try:
        command = Command(command=name, token=admin_token(cfg), target=target, count=count)
        replies = asyncio.run(broadcast(cfg, command))
    except (AdminError, ValueError, OSError) as exc:
        fail(str(exc))
        raise typer.Exit(2) from None
    errors = [r for r in replies if r.status == "error"]
    for reply in errors:
        fail(f"node {reply.node}: {reply.message}")
    if errors:
        raise typer.Exit(1)
    return replies


def status() -> None:
    """Every node's roles, brokers, instances, queue depth, in-flight and restarts."""
    table = Table(title="BEDS status")
    for column in (
        "node",
        "broker",
        "queue depth",
        "consumers",
        "instance",
        "received",
        "in flight",
        "restarts",
        "events sent",
        "events dropped",
        "events stored",
    ):
        table.add_column(column)
    replies = sorted(_send("status"), key=lambda r: r.node)
    for reply in replies:
        for b in reply.data.get("brokers", []):
            rows = b["instances"] or [{"name": "(none)"}]
            for i, inst in enumerate(rows):
                table.add_row(
                    reply.node if i == 0 else "",
                    f"{b['role']}.{b['broker']}" if i == 0 else "",
                    str(b["depth"]) if i == 0 else "",
                    str(b["consumers"]) if i == 0 else "",
                    inst["name"],
                    *(
                        str(inst.get(key, ""))
                        for key in (
                            "received",
                            "inflight",
                            "restarts",
                            "events_published",
                            "events_dropped",
                            "events_written",
                        )
                    ),
                )
    out.print(table)
    for reply in replies:
        system = reply.data.get("system_events", {})
        out.print(
            f"{reply.node}: system events sent {system.get('published', 0)}, "
            f"dropped {system.get('dropped', 0)}"
        )


def scale(
    target: Target,
    count: Annotated[int, typer.Argument(help="instances wanted (0 drains them all)")],
) -> None:
    """Add or drain instances of a broker until COUNT consume."""
    for reply in _send("scale", target, count):
        if reply.handled:
            out.print(f"{reply.node}: {target} → {', '.join(reply.data['instances']) or 'none'}")


def swap(target: Target) -> None:
    """Replace every instance of a broker, one at a time, without losing a request."""
    for reply in _send("swap", target):
        if reply.handled:
            out.print(f"{reply.node}: {target} now {', '.join(reply.data['instances'])}")


def shutdown() -> None:
    """Coordinated shutdown: every node stops consuming, finishes in-flight work and exits."""
    for reply in _send("shutdown"):
        out.print(f"{reply.node}: shutting down")


def hash_token(token: Annotated[str, typer.Argument(help="the admin token to hash")]) -> None:
    """Print the argon2 hash to put in admin.token_hash on the nodes."""
    from beds_actors.admin.auth import hash_token as make_hash

    print(make_hash(token))


def register(app: typer.Typer) -> None:
    """Add the admin commands to `beds`."""
    for command in (status, scale, swap, shutdown):
        app.command()(command)
    app.command("admin-hash-token")(hash_token)
