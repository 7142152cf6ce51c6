"""py-spy profile of BEDS's request path: broker and adapter actors under load (64 in flight).

Starts BEDS x1 on the bench config (database `beds_bench`, re-created), seeds records, drives
one op at a time with the bench generator, and meanwhile runs `py-spy record` on the busiest
broker actor and on the adapter actor. Writes the raw stacks, a flame graph (SVG) and a
Markdown summary (layers and top frames) to bench/results/profile-<stamp>/.

    .venv/bin/python bench/profile.py [--ops read,create] [--inflight 64] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import uvloop
from spy_summary import summarize
from systems import BENCH, bench_config, clean_amqp, reset_database, start_beds
from systems import target as target_of

from beds_actors.bench.load import LoadSpec, run_load
from beds_actors.bench.rpc import RpcClient
from beds_actors.bench.workload import seed

PY_SPY = str(Path(sys.executable).with_name("py-spy"))


def actor_pids(root: int) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {"broker": [], "adapter": []}
    for proc in psutil.Process(root).children(recursive=True):
        cmd = " ".join(proc.cmdline())
        if cmd.startswith("ray::BrokerActor"):
            out["broker"].append(proc.pid)
        elif cmd.startswith("ray::AdapterActor"):
            out["adapter"].append(proc.pid)
    return out


async def busiest(pids: list[int]) -> int:
    procs = [psutil.Process(p) for p in pids]
    before = [sum(p.cpu_times()[:2]) for p in procs]
    await asyncio.sleep(1.0)
    spent = [sum(p.cpu_times()[:2]) - b for p, b in zip(procs, before, strict=True)]
    return pids[spent.index(max(spent))]


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds per thread (name from /proc, e.g. the event loop thread vs Ray's C++ ones)."""
    out = {}
    for t in psutil.Process(pid).threads():
        try:
            name = Path(f"/proc/{pid}/task/{t.id}/comm").read_text().strip()
        except OSError:
            name = "?"
        out[t.id] = (name, t.user_time + t.system_time)
    return out


def thread_table(pid: int, before: dict[int, tuple[str, float]], seconds: float) -> str:
    after = thread_cpu(pid)
    rows = sorted(
        ((cpu - before.get(tid, ("", 0.0))[1], name, tid) for tid, (name, cpu) in after.items()),
        reverse=True,
    )
    total = sum(r[0] for r in rows) or 1.0
    lines = [f"CPU by thread (/proc), {total:.2f} s in {seconds:.0f} s:", ""]
    lines += ["| thread (comm, tid) | CPU s | share |", "|---|---:|---:|"]
    lines += [f"| {n} ({tid}) | {d:.2f} | {d / total:.1%} |" for d, n, tid in rows[:6] if d > 0]
    return "\n".join(lines) + "\n"


async def record(pid: int, seconds: float, out: Path, fmt: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        PY_SPY, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200",
        "--format", fmt, "-o", str(out), "--nonblocking", "--threads",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await proc.wait()


async def main(opts: argparse.Namespace) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = BENCH / "results" / f"profile-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    await reset_database(bench_config())
    await clean_amqp()
    beds = start_beds(1, out)
    report = [f"# py-spy profile, BEDS x1, {opts.inflight} in flight ({stamp})\n"]
    try:
        target = target_of("beds")
        async with RpcClient(target.url, target.exchange) as client:
            work = await seed(client, target, 1000)
            for op in opts.ops:
                spec = LoadSpec(opts.inflight, opts.seconds + 4, 3.0, {op: 1.0})
                load = asyncio.create_task(run_load(client, target, work, spec, system="beds"))
                await asyncio.sleep(2.0)
                pids = actor_pids(beds.pid)
                broker = await busiest(pids["broker"])
                adapter = pids["adapter"][0]
                jobs, cpu0 = [], {}
                for name, pid in (("broker", broker), ("adapter", adapter)):
                    cpu0[name] = (pid, thread_cpu(pid))
                    jobs.append(record(pid, opts.seconds, out / f"{op}-{name}.txt", "raw"))
                began = time.monotonic()
                await asyncio.gather(*jobs)
                took = time.monotonic() - began
                threads = {n: thread_table(p, c, took) for n, (p, c) in cpu0.items()}
                result = await load
                report.append(
                    f"## op {op}: {result['throughput_rps']:,.0f} req/s, p50 "
                    f"{result['latency_ms']['p50']:.1f} ms, CPU s by group "
                    f"{result['cpu']['groups']}\n"
                )
                for name in ("broker", "adapter"):
                    report.append(summarize(out / f"{op}-{name}.txt"))
                    report.append(threads[name])
    finally:
        beds.stop()
        await clean_amqp()
    (out / "summary.md").write_text("\n".join(report))
    print("\n".join(report))
    print(f"written to {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=lambda s: s.split(","), default=["read", "create"])
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=15.0)
    uvloop.run(main(ap.parse_args()))
