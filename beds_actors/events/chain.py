"""A trace as a tree: the stored events of one root, nested by parent, in start order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from beds_actors.client import BedsClient
from beds_actors.events.ids import root_of

LOGGER = "mst_logger"
FETCH_ROUTE = "admin.adminBrokerOut"  # the admin broker that serves fetches of the logger


@dataclass
class Node:
    """One event of a trace with the events under it."""

    event: Mapping[str, Any]
    children: list[Node] = field(default_factory=list)

    @property
    def started(self) -> datetime:
        """When the step began (UTC)."""
        return datetime.fromisoformat(str(self.event["started"]))


def build(events: Iterable[Mapping[str, Any]]) -> list[Node]:
    """The trees of `events`: each event under its parent; events whose parent is not among
    them (the client's own parent, or a step not stored yet) are tops. Siblings by start."""
    nodes = {str(e["event_id"]): Node(e) for e in events}
    tops: list[Node] = []
    for node in nodes.values():
        parent = nodes.get(str(node.event.get("parent") or ""))
        (parent.children if parent is not None else tops).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: (n.started, str(n.event["event_id"])))
    tops.sort(key=lambda n: (n.started, str(n.event["event_id"])))
    return tops


def walk(tops: list[Node], depth: int = 0) -> Iterator[tuple[int, Node]]:
    """Depth-first, in start order: (depth, node)."""
    for node in tops:
        yield depth, node
        yield from walk(node.children, depth + 1)


def render(tops: list[Node]) -> list[str]:
    """Indented lines for a terminal: offset and duration (ms), step, where, what, outcome."""
    if not tops:
        return []
    origin = min(n.started for n in tops)
    lines = []
    for depth, node in walk(tops):
        e = node.event
        offset = (node.started - origin).total_seconds() * 1000
        where = f"{e.get('node', '')}/{e.get('broker', '')}"
        if e.get("instance") is not None:
            where += f"/{e['instance']}"
        what = f"{e.get('template', '')}.{e.get('op', '')}".strip(".")
        outcome = str(e.get("status", ""))
        if e.get("code"):
            outcome += f" {e['code']}"
        detail = f"  {e['detail']}" if e.get("detail") else ""
        lines.append(
            f"{offset:9.1f} ms {int(e.get('duration_us') or 0) / 1000:8.1f} ms  "
            f"{'  ' * depth}{e['kind']:<13} {e['event_id']}  {where}  {what}  {outcome}{detail}"
        )
    return lines


async def fetch_chain(client: BedsClient, event_id: str) -> list[dict[str, Any]]:
    """Every stored event of the trace `event_id` belongs to, from any event in it.

    The stored row names the root (a client's own event id may sit under another root);
    an id not stored yet falls back to the root its text names.
    """
    own = await _fetch(client, {"event_id": event_id}, 1)
    root = str(own[0]["root"]) if own else root_of(event_id)
    return await _fetch(client, {"root": root}, 1000)


async def _fetch(client: BedsClient, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    body = {"template": LOGGER, "op": "fetch", "query": query, "limit": limit}
    reply = await client.send(orjson.dumps(body), FETCH_ROUTE)
    if reply["status"] == "ok":
        return list(reply["data"])
    if reply["error"]["code"] == "not_found":
        return []
    raise LookupError(f"{reply['error']['code']}: {reply['error']['message']}")
