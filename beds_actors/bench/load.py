"""The load loop: keep N requests in flight for a duration and record every completion."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from beds_actors.bench.procs import CpuSnapshot, cpu_between
from beds_actors.bench.rpc import RpcClient, RpcError
from beds_actors.bench.workload import Target, Workload, chooser


@dataclass(frozen=True)
class LoadSpec:
    """How hard and how long to drive the target."""

    inflight: int = 16
    duration_s: float = 10.0
    warmup_s: float = 1.0
    mix: Mapping[str, float] = field(default_factory=lambda: {"read": 1.0})
    rng_seed: int = 1


@dataclass
class Progress:
    """What the live display shows, refreshed a few times a second."""

    phase: str = "warmup"
    elapsed_s: float = 0.0
    total_s: float = 0.0
    completed: int = 0
    errors: int = 0
    rate: float = 0.0


@dataclass
class _Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    errors_by_op: Counter[str] = field(default_factory=Counter)
    completed_total: int = 0
    errors_total: int = 0


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max in milliseconds."""
    ordered = sorted(values)
    mean = sum(ordered) / len(ordered) if ordered else 0.0
    return {
        "p50": round(percentile(ordered, 50) * 1000, 3),
        "p95": round(percentile(ordered, 95) * 1000, 3),
        "p99": round(percentile(ordered, 99) * 1000, 3),
        "mean": round(mean * 1000, 3),
        "max": round((ordered[-1] if ordered else 0.0) * 1000, 3),
    }


async def run_load(
    client: RpcClient,
    target: Target,
    work: Workload,
    spec: LoadSpec,
    *,
    labels: Mapping[int, str] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    system: str = "",
) -> dict[str, Any]:
    """Drive `target` with `spec.inflight` concurrent requests; return the JSON-ready result.

    Only requests that complete inside the measurement window (after the warm-up) count.
    When the window closes no new request starts, and the ones in flight are awaited so
    they cannot leak into the next run.
    """
    rng = random.Random(spec.rng_seed)
    next_op = chooser(spec.mix, rng)
    tally = _Tally(latencies={op: [] for op in spec.mix})
    start = time.perf_counter()
    window_start = start + spec.warmup_s
    window_end = window_start + spec.duration_s
    cpu: dict[str, CpuSnapshot] = {}

    async def worker() -> None:
        while time.perf_counter() < window_end:
            op = next_op()
            routing_key, body = work.request(op, target, rng)
            began = time.perf_counter()
            code = None
            try:
                reply = await client.call(routing_key, body)
                if reply.get("status") != "ok":
                    code = str((reply.get("error") or {}).get("code", "bad_reply"))
            except RpcError as exc:
                code = f"client: {exc}"[:80]
            done = time.perf_counter()
            tally.completed_total += 1
            if code is not None:
                tally.errors_total += 1
            if window_start <= done < window_end:
                if code is None:
                    tally.latencies[op].append(done - began)
                else:
                    tally.errors[code] += 1
                    tally.errors_by_op[op] += 1

    async def sampler() -> None:
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        cpu["before"] = await asyncio.to_thread(CpuSnapshot.take, labels)
        await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
        cpu["after"] = await asyncio.to_thread(CpuSnapshot.take, labels)

    async def ticker() -> None:
        last, last_t = 0, time.perf_counter()
        while on_progress is not None:
            await asyncio.sleep(0.25)
            now = time.perf_counter()
            rate = (tally.completed_total - last) / (now - last_t)
            last, last_t = tally.completed_total, now
            phase = "warmup" if now < window_start else "measure" if now < window_end else "drain"
            on_progress(
                Progress(
                    phase,
                    now - start,
                    spec.warmup_s + spec.duration_s,
                    tally.completed_total,
                    tally.errors_total,
                    rate,
                )
            )

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    tick = asyncio.create_task(ticker())
    try:
        await asyncio.gather(sampler(), *(worker() for _ in range(spec.inflight)))
    finally:
        tick.cancel()
    return _result(tally, spec, target, system, started_at, cpu)


def _result(
    tally: _Tally,
    spec: LoadSpec,
    target: Target,
    system: str,
    started_at: str,
    cpu: Mapping[str, CpuSnapshot],
) -> dict[str, Any]:
    ok = sum(len(v) for v in tally.latencies.values())
    errors = sum(tally.errors.values())
    per_op = {
        op: {
            "requests": len(lat) + tally.errors_by_op[op],
            "errors": tally.errors_by_op[op],
            "throughput_rps": round(len(lat) / spec.duration_s, 1),
            "latency_ms": latency_summary(lat),
        }
        for op, lat in tally.latencies.items()
    }
    usage = cpu_between(cpu["before"], cpu["after"]) if len(cpu) == 2 else None
    return {
        "system": system,
        "target": asdict(target) | {"url": target.url.split("@")[-1]},
        "mix": dict(spec.mix),
        "inflight": spec.inflight,
        "duration_s": spec.duration_s,
        "warmup_s": spec.warmup_s,
        "started_at": started_at,
        "requests": ok + errors,
        "ok": ok,
        "errors": errors,
        "error_codes": dict(tally.errors),
        "throughput_rps": round(ok / spec.duration_s, 1),
        "latency_ms": latency_summary([x for lat in tally.latencies.values() for x in lat]),
        "per_op": per_op,
        "cpu": usage.as_dict() if usage is not None else {},
    }
