"""Wait on a condition, not a clock: tests stay correct on a loaded machine."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


async def wait_until(
    check: Callable[[], Any],
    *,
    timeout_s: float,
    what: str | Callable[[], str],
    interval_s: float = 0.05,
) -> Any:
    """Call `check` until it returns a truthy value and return that value.

    `timeout_s` is a generous bound that catches hangs, not a performance figure. On timeout
    an AssertionError names `what` (text, or a function giving text then) and the last value
    `check` returned.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"not true within {timeout_s:g}s: {said} (last: {value!r})")
        await asyncio.sleep(interval_s)
