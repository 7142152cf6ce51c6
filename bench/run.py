"""The comparison in ONE run: BEDS (x1, x2, x4 brokers) vs the raw floor vs FastStream vs Nameko.

Same RabbitMQ, same MariaDB database (`beds_bench`, dropped and re-created with the DBA
objects), same seeded records, same load generator (beds_actors.bench) in this process.
For each op and in-flight level, every system runs `--repeats` short runs, interleaved
(system order rotates per repeat), and the tables show medians. The raw floor runs again in
every scaling phase, so every ratio compares runs of the same phase.

    .venv/bin/python bench/run.py            # defaults: about 15 minutes
    .venv/bin/python bench/run.py --quick    # about 2 minutes, for a look
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import hashlib
import importlib.metadata as md
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
from rich.console import Console
from systems import (
    BENCH,
    VARIANTS,
    Proc,
    bench_config,
    clean_amqp,
    reset_database,
    start_beds,
    start_peer,
    wait_quiet,
)
from systems import target as target_of
from tables import FOREIGN_LIMIT, markdown, print_tables, summarize

from beds_actors.bench.load import LoadSpec, run_load
from beds_actors.bench.procs import CpuSnapshot, cpu_between, memory_by_group
from beds_actors.bench.rpc import RpcClient
from beds_actors.bench.workload import Workload, seed

# beds0/bedsq/bedsl/bedsn: variants, on request
SYSTEMS = ("raw", "beds", "beds0", "bedsq", "bedsl", "bedsn", "faststream", "nameko")
DEFAULT_SYSTEMS = ["raw", "beds", "faststream", "nameko"]
PACKAGES = (
    "ray", "aio-pika", "aiormq", "aiomysql", "PyMySQL", "orjson", "uvloop", "pydantic",
    "faststream", "nameko", "eventlet", "kombu", "psutil",
)  # fmt: skip


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def words(text: str) -> list[str]:
    return [x for x in text.split(",") if x]


def options() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--systems",
        type=words,
        default=DEFAULT_SYSTEMS,
        help="raw,beds,faststream,nameko; variants: beds0 = BEDS with RAY_worker_niceness=0, "
        "bedsq = BEDS on quorum queues, bedsl = BEDS with the adapter in the broker process "
        "(bench/systems.py VARIANTS), bedsn = BEDS with event lineage off",
    )
    ap.add_argument("--ops", type=words, default=["read", "create", "fetch"])
    ap.add_argument("--inflight", type=ints, default=[1, 16, 64, 256])
    ap.add_argument("--instances", type=ints, default=[1, 2, 4], help="BEDS broker instances")
    ap.add_argument("--scaling-ops", type=words, default=["read", "create"])
    ap.add_argument("--scaling-inflight", type=ints, default=[64, 256])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1000, help="records seeded for reads")
    ap.add_argument("--idle-s", type=float, default=10.0, help="idle window for CPU/memory")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="a run during which other processes used > 0.25 cores is run again after waiting "
        "up to this many seconds for them to calm down",
    )
    ap.add_argument("--quick", action="store_true", help="1 repeat x 2 s, fewer cells")
    ap.add_argument("--out", type=Path, default=BENCH / "results")
    opts = ap.parse_args()
    if opts.quick:
        opts.repeats, opts.duration, opts.idle_s = 1, 2.0, 3.0
        opts.inflight, opts.ops = [16, 64], ["read", "create"]
        opts.instances, opts.scaling_inflight, opts.scaling_ops = [1, 2], [64], ["read"]
    return opts


def machine() -> dict[str, Any]:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    models = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
    cpu = models[0] if models else platform.processor()
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu,
        "cores": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
    }


def code_state() -> dict[str, Any]:
    """Git HEAD, and digests of the files on BEDS's request path (the tree may be dirty)."""
    root = BENCH.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip()

    paths = ["beds_actors/brokers", "beds_actors/adapters", "beds_actors/core"]
    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "dirty_on_request_path": git("status", "--short", "--", *paths).splitlines(),
        "request_path_sha256": {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()[:12]
            for d in paths
            for p in sorted((root / d).glob("*.py"))
        },
    }


def plan(opts: argparse.Namespace, systems: list[str]) -> list[tuple[int, list[tuple[Any, ...]]]]:
    """Per BEDS instance count: the (op, inflight, repeat, system) cells, interleaved."""
    phases = []
    for inst in opts.instances:
        first = inst == opts.instances[0]
        ops = opts.ops if first else opts.scaling_ops
        levels = opts.inflight if first else opts.scaling_inflight
        members = systems if first else [s for s in systems if s == "raw" or s in VARIANTS]
        cells = []
        for op in ops:
            for n in levels:
                for rep in range(opts.repeats):
                    k = rep % len(members)
                    for system in members[k:] + members[:k]:
                        cells.append((op, n, rep, system))
        phases.append((inst, cells))
    return phases


def broker_stats(log: Path) -> dict[str, Any]:
    """What `beds up` prints when it stops (per-broker counters when it prints them)."""
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if "stopped cleanly: " in line:
            text = line.split("stopped cleanly: ", 1)[1].strip()
            try:
                stats = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return {"summary": text}
            for counters in stats.values():
                if isinstance(counters, dict) and counters.get("batches"):
                    counters["mean_batch"] = round(counters["received"] / counters["batches"], 1)
            return dict(stats)
    return {}


async def idle_profile(labels: dict[int, str], seconds: float) -> dict[str, Any]:
    """CPU and memory per group while every system is up and no request flows."""
    before = await asyncio.to_thread(CpuSnapshot.take, labels)
    await asyncio.sleep(seconds)
    usage = cpu_between(before, await asyncio.to_thread(CpuSnapshot.take, labels))
    vm = psutil.virtual_memory()
    return {
        "cpu": usage.as_dict(),
        "memory": await asyncio.to_thread(memory_by_group, labels),
        "machine_used_mib": round((vm.total - vm.available) / 2**20),
    }


async def main(opts: argparse.Namespace) -> int:
    console = Console(width=150)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = opts.out / f"logs-{stamp}"
    systems = [s for s in SYSTEMS if s in opts.systems]
    phases = plan(opts, systems)
    total = sum(len(c) for _, c in phases)
    est = total * (opts.duration + opts.warmup + 0.4) + 30 * len(phases) + 20
    console.print(f"[bold]{total} runs in {len(phases)} phases, about {est / 60:.0f} min[/bold]")
    meta: dict[str, Any] = {"started_at": stamp, "machine": machine(), "code": code_state()}
    meta["options"] = {**vars(opts), "out": str(opts.out)}
    cfg = bench_config()
    meta["mariadb"] = await reset_database(cfg)
    meta["rabbitmq"] = await clean_amqp()
    procs: dict[str, Proc] = {}
    skipped: dict[str, str] = {}
    cells: list[dict[str, Any]] = []
    idle: dict[str, Any] = {}
    beds_stats: dict[str, Any] = {}
    work: Workload | None = None
    done = 0
    aborted = None
    try:
        for system in systems:
            if system in VARIANTS:
                continue
            try:
                procs[system] = start_peer(system, logs)
                console.print(f"{system} up in {procs[system].started_s:.1f} s")
            except RuntimeError as exc:
                skipped[system] = str(exc)
                console.print(f"[red]{system} skipped: {exc}[/red]")
        for inst, phase_cells in phases:
            for variant in VARIANTS:
                if variant in systems:
                    try:
                        procs[variant] = start_beds(inst, logs, variant)
                    except RuntimeError as exc:
                        skipped[f"{variant} x{inst}"] = str(exc)
                        console.print(f"[red]{variant} x{inst} skipped: {exc}[/red]")
                        continue
                    console.print(f"{variant} x{inst} up in {procs[variant].started_s:.1f} s")
            labels = {p.pid: ("beds" if n.startswith("beds") else n) for n, p in procs.items()}
            if not idle:
                idle = await idle_profile(labels, opts.idle_s)
            live = {s for s in systems if s in procs}
            clients = {s: await RpcClient(target_of(s).url, target_of(s).exchange).connect()
                       for s in live}  # fmt: skip
            try:
                if work is None:
                    first = "raw" if "raw" in live else sorted(live)[0]
                    work = await seed(clients[first], target_of(first), opts.seed)
                for op, n, rep, system in phase_cells:
                    done += 1
                    if system not in live:
                        continue
                    spec = LoadSpec(n, opts.duration, opts.warmup, {op: 1.0}, rng_seed=rep + 1)
                    for attempt in range(2):
                        result = await run_load(
                            clients[system], target_of(system), work, spec,
                            labels=labels, system=system,
                        )  # fmt: skip
                        cpu = result["cpu"]
                        result["foreign_cores"] = round(
                            cpu["groups"].get("other", 0.0) / cpu["elapsed_s"], 3
                        )
                        if result["foreign_cores"] <= FOREIGN_LIMIT or attempt:
                            break
                        console.print(
                            f"  [yellow]{result['foreign_cores']:.2f} cores used outside the "
                            "systems under test: waiting for quiet, then running it again[/yellow]"
                        )
                        await wait_quiet(labels, 0.1, opts.quiet_wait)
                    result.update(phase=f"BEDS x{inst}", op=op, repeat=rep, instances=inst)
                    cells.append(result)
                    lat = result["latency_ms"]
                    console.print(
                        f"[{done}/{total}] x{inst} {op:6} n={n:<3} {system:10} "
                        f"{result['throughput_rps']:8,.0f} req/s  p50 {lat['p50']:7.1f}  "
                        f"p99 {lat['p99']:7.1f} ms  err {result['errors']}  "
                        f"cpu {cpu.get('machine_util', 0):.0%}"
                        + (f"  foreign {result['foreign_cores']:.2f}" if result["foreign_cores"]
                           > FOREIGN_LIMIT else "")
                    )  # fmt: skip
            finally:
                for client in clients.values():
                    await client.close()
                for variant in VARIANTS:
                    if variant in procs:
                        beds = procs.pop(variant)
                        beds.stop()
                        beds_stats[f"{variant} x{inst}"] = broker_stats(beds.log)
    except Exception as exc:  # keep what was measured; say why the run stopped
        aborted = f"{type(exc).__name__}: {exc}"
        console.print(f"[red]run aborted: {aborted}[/red]")
    finally:
        for proc in procs.values():
            proc.stop()
        await clean_amqp()
    rows = summarize(cells)
    order = [s for s in systems if s not in skipped]
    print_tables(console, rows, order)
    opts.out.mkdir(parents=True, exist_ok=True)
    path = opts.out / f"bench-{stamp}.json"
    doc = {
        "meta": meta,
        "aborted": aborted,
        "skipped": skipped,
        "idle": idle,
        "beds_broker_stats": beds_stats,
        "summary": rows,
        "runs": cells,
    }
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    (opts.out / f"bench-{stamp}.md").write_text(markdown(rows, order))
    console.print(f"JSON: {path}\nlogs: {logs}")
    return 1 if aborted else 0


if __name__ == "__main__":
    import uvloop

    started = time.monotonic()
    code = uvloop.run(main(options()))
    Console().print(f"total {(time.monotonic() - started) / 60:.1f} min")
    sys.exit(code)
