"""TCP reachability of RabbitMQ and every configured database, checked before anything else."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from beds_actors.config import BedsConfig


@dataclass(frozen=True)
class Target:
    """A service endpoint to probe."""

    service: str
    host: str
    port: int
    required: bool

    @property
    def where(self) -> str:
        """host:port."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Probe:
    target: Target
    error: str | None

    @property
    def ok(self) -> bool:
        """True when the port accepted a TCP connection."""
        return self.error is None


def targets(cfg: BedsConfig) -> list[Target]:
    """RabbitMQ plus the master (and secondary) endpoint of every configured store."""
    out = [Target("RabbitMQ (amqp)", cfg.amqp.host, cfg.amqp.port, required=True)]
    for name, store in cfg.stores.items():
        out.append(
            Target(
                f"{store.kind} stores.{name}.master",
                store.master.host,
                store.master.port,
                store.required,
            )
        )
        if store.secondary is not None:
            out.append(
                Target(
                    f"{store.kind} stores.{name}.secondary",
                    store.secondary.host,
                    store.secondary.port,
                    store.required,
                )
            )
    return out


async def probe(target: Target, timeout_s: float = 3.0) -> Probe:
    """Try one TCP connect."""
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(target.host, target.port)
        writer.close()
        await writer.wait_closed()
        return Probe(target, None)
    except TimeoutError:
        return Probe(target, f"no answer within {timeout_s:g}s")
    except OSError as exc:
        return Probe(target, exc.strerror or str(exc))


async def preflight(cfg: BedsConfig) -> list[Probe]:
    """Probe every target concurrently."""
    return list(await asyncio.gather(*(probe(t) for t in targets(cfg))))
