"""What the generator sends: the op mix, the request bodies, and the records it seeds first."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from beds_actors.bench.rpc import RpcClient

OPS = ("read", "create", "fetch")
OP_HELP = "read = fetch one record by guid; create = insert one; fetch = query by email (≤10 rows)"


@dataclass(frozen=True)
class Target:
    """Where requests go: the same generator drives every system that speaks the contract."""

    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    exchange: str = "beds"
    read_key: str = "appServer.rBroker"
    write_key: str = "appServer.wBroker"
    template: str = "customer"


@dataclass
class Workload:
    """Seeded records to read, and email groups to fetch by query."""

    guids: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    group_size: int = 10
    tag: str = field(default_factory=lambda: os.urandom(4).hex())
    _created: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def request(self, op: str, target: Target, rng: random.Random) -> tuple[str, dict[str, Any]]:
        """(routing key, body) of one request of kind `op`."""
        if op == "read":
            query = {"guid": rng.choice(self.guids)}
            return target.read_key, {"template": target.template, "op": "fetch", "query": query}
        if op == "fetch":
            query = {"email": rng.choice(self.emails)}
            body = {"template": target.template, "op": "fetch", "query": query}
            return target.read_key, {**body, "limit": self.group_size}
        if op == "create":
            n = next(self._created)
            data = {"name": f"bench {self.tag} {n}", "email": f"{self.tag}.{n}@new.bench.example"}
            return target.write_key, {"template": target.template, "op": "create", "data": data}
        raise ValueError(f"unknown op {op!r}; use one of {', '.join(OPS)}")


def parse_mix(text: str) -> dict[str, float]:
    """`read` or `read=8,create=1,fetch=1` → weights per op."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in OPS:
            raise ValueError(f"unknown op {name!r} in mix {text!r}; ops: {', '.join(OPS)}")
        mix[name] = float(weight) if weight else 1.0
        if mix[name] < 0:
            raise ValueError(f"negative weight for {name!r}")
    if not mix or sum(mix.values()) <= 0:
        raise ValueError(f"empty op mix {text!r}")
    return mix


def chooser(mix: Mapping[str, float], rng: random.Random) -> Callable[[], str]:
    """A function returning the next op according to the mix."""
    ops, weights = list(mix), list(mix.values())
    if len(ops) == 1:
        only = ops[0]
        return lambda: only
    return lambda: rng.choices(ops, weights)[0]


async def seed(
    client: RpcClient, target: Target, records: int, *, group_size: int = 10, concurrency: int = 32
) -> Workload:
    """Create `records` records through the target itself, `group_size` sharing each email."""
    work = Workload(group_size=group_size)
    groups = max(1, records // group_size)
    work.emails = [f"{work.tag}.g{k}@seed.bench.example" for k in range(groups)]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(records):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            data = {"name": f"seed {work.tag} {i}", "email": work.emails[i % groups]}
            body = {"template": target.template, "op": "create", "data": data}
            reply = await client.call(target.write_key, body)
            if reply.get("status") != "ok":
                raise RuntimeError(f"seeding failed: {reply}")
            work.guids.append(reply["data"]["guid"])

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, records)))))
    return work
