"""Human output for `beds bench`: the live progress bar and the end-of-run summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from beds_actors.bench.load import Progress as LoadProgress


@contextmanager
def live_progress(console: Console, title: str) -> Iterator[Callable[[LoadProgress], None]]:
    """A progress bar over warm-up + measurement; yields the callback the load loop calls."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[phase]:>7}"),
        TextColumn("{task.fields[done]:>8} done"),
        TextColumn("{task.fields[rate]:>8} req/s"),
        TextColumn("{task.fields[errors]} errors"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task = bar.add_task(title, total=1.0, phase="warmup", done=0, rate=0, errors=0)

    def update(p: LoadProgress) -> None:
        bar.update(
            task,
            total=p.total_s,
            completed=min(p.elapsed_s, p.total_s),
            phase=p.phase,
            done=p.completed,
            rate=f"{p.rate:,.0f}",
            errors=p.errors,
        )

    with bar:
        yield update


def summary_table(result: Mapping[str, Any]) -> Table:
    """Throughput, latency and errors, per op and in total."""
    title = (
        f"{result['system'] or result['target']['exchange']}: {result['inflight']} in flight, "
        f"{result['duration_s']:g} s measured"
    )
    table = Table(title=title, title_justify="left")
    for col in ("op", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="left" if col == "op" else "right")
    rows = [(op, r) for op, r in result["per_op"].items()]
    if len(rows) > 1:
        rows.append(("all", result))
    for name, r in rows:
        lat = r["latency_ms"]
        table.add_row(
            name,
            f"{r['requests']:,}",
            f"{r['errors']:,}",
            f"{r['throughput_rps']:,.1f}",
            *(f"{lat[k]:.2f}" for k in ("p50", "p95", "p99", "max")),
        )
    return table


def cpu_table(result: Mapping[str, Any]) -> Table:
    """CPU seconds per process group during the measurement window."""
    cpu = result.get("cpu") or {}
    elapsed = cpu.get("elapsed_s") or 1.0
    util = cpu.get("machine_util", 0.0)
    table = Table(
        title=f"CPU in the window: machine {util:.0%} busy of {cpu.get('cores', '?')} cores",
        title_justify="left",
    )
    for col in ("group", "cpu s", "% of a core", "per 1k req (ms)"):
        table.add_column(col, justify="left" if col == "group" else "right")
    ok = max(1, int(result.get("ok", 0)))
    for group, secs in sorted((cpu.get("groups") or {}).items(), key=lambda kv: -kv[1]):
        table.add_row(group, f"{secs:.2f}", f"{secs / elapsed:.0%}", f"{secs * 1e6 / ok:.1f}")
    return table


def print_summary(console: Console, result: Mapping[str, Any]) -> None:
    """The end-of-run report for people."""
    console.print(summary_table(result))
    if result["error_codes"]:
        console.print(f"[red]errors by code: {result['error_codes']}[/red]")
    if result.get("cpu"):
        console.print(cpu_table(result))
