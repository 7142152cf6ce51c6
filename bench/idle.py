"""Idle footprint of a BEDS node: memory (RSS, PSS) and CPU per process group, nothing flowing.

By default the SHIPPED config (config/beds.toml: every role on one node, quorum queues), moved
to bench names (exchange/queues/namespace beds_bench_idle, database beds_bench) so it never
touches `make run`. Ray's own processes are a group of their own.

    .venv/bin/python bench/idle.py [--config config/beds.toml] [--settle 15] [--window 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil
import uvloop
from systems import BENCH, RAY_ENV, ROOT, _spawn, bench_config, reset_database

from beds_actors.amqp.topology import connect, control_exchange_name, delete_topology
from beds_actors.bench.procs import CpuSnapshot, cpu_between, memory_by_group
from beds_actors.config import load_from

OVERRIDES = {
    "BEDS__AMQP__EXCHANGE": "beds_bench_idle",
    "BEDS__AMQP__QUEUE_PREFIX": "beds_bench_idle.",
    "BEDS__RAY__NAMESPACE": "beds_bench_idle",
    "BEDS__STORES__MAIN__MASTER__DATABASE": "beds_bench",
    "BEDS__STORES__MAIN__MASTER__PASSWORD": "beds",
}


async def main(opts: argparse.Namespace) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = BENCH / "results" / f"idle-{stamp}"
    await reset_database(bench_config())
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDS")}
    env.update({**RAY_ENV, **OVERRIDES, "BEDS_CONFIG": str(opts.config), "BEDS_ENV": "dev"})
    argv = [str(Path(sys.executable).with_name("beds")), "up"]
    proc = _spawn("beds-idle", argv, out, env, "IPL complete")
    try:
        await asyncio.sleep(opts.settle)
        labels = {proc.pid: "beds"}
        before = await asyncio.to_thread(CpuSnapshot.take, labels)
        await asyncio.sleep(opts.window)
        cpu = cpu_between(before, await asyncio.to_thread(CpuSnapshot.take, labels))
        memory = await asyncio.to_thread(memory_by_group, labels)
        vm = psutil.virtual_memory()
        doc = {
            "config": str(opts.config),
            "started_s": round(proc.started_s, 1),
            "memory": memory,
            "cpu": cpu.as_dict(),
            "machine_used_mib": round((vm.total - vm.available) / 2**20),
        }
    finally:
        proc.stop()
        cfg = load_from(opts.config, env="dev", environ=OVERRIDES)
        connection = await connect(cfg.amqp, "beds-bench-idle-clean")
        try:
            await delete_topology(connection, cfg)
            async with connection.channel() as channel:  # delete_topology leaves it
                await channel.exchange_delete(control_exchange_name(cfg.amqp))
        finally:
            await connection.close()
    (out / "idle.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    used = doc["machine_used_mib"]
    print(f"IPL to ready: {doc['started_s']} s; machine memory in use: {used} MiB")
    print(f"{'group':14} {'procs':>5} {'RSS MiB':>8} {'PSS MiB':>8} {'CPU % of a core':>16}")
    groups = cpu.groups
    for group, row in memory.items():
        share = groups.get(group, 0.0) / cpu.elapsed_s
        print(
            f"{group:14} {row['processes']:5.0f} {row['rss_mib']:8.1f} {row['pss_mib']:8.1f} "
            f"{share:16.1%}"
        )
    print(f"written to {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "beds.toml")
    ap.add_argument("--settle", type=float, default=15.0, help="seconds after ready")
    ap.add_argument("--window", type=float, default=20.0, help="seconds of idle measured")
    uvloop.run(main(ap.parse_args()))
