"""Load generators: a steady stream of requests, and gathering their replies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

Reply = dict[str, Any]


async def steady_load(
    send: Callable[[int], Awaitable[Reply]], *, seconds: float, per_second: float
) -> list[asyncio.Future[Reply]]:
    """Start `send(i)` at `per_second` for `seconds` (not waiting for replies); the futures.

    The schedule is kept against the clock, so a slow event loop sends in catch-up bursts
    instead of sending fewer requests.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    calls: list[asyncio.Future[Reply]] = []
    for i in range(int(seconds * per_second)):
        delay = started + i / per_second - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        calls.append(asyncio.ensure_future(send(i)))
    return calls


async def gather_replies(calls: Sequence[Awaitable[Reply]]) -> list[Reply]:
    """Await every call; a call that raised fails the whole gather with its exception."""
    return list(await asyncio.gather(*calls))


def statuses(replies: Sequence[Reply]) -> dict[str, int]:
    """Count of replies per status or error code, e.g. {"ok": 398, "timeout": 2}."""
    out: dict[str, int] = {}
    for reply in replies:
        key = "ok" if reply.get("status") == "ok" else str(reply.get("error", {}).get("code"))
        out[key] = out.get(key, 0) + 1
    return out
