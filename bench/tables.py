"""Medians over repeats, ratios to the raw floor, and the comparison tables."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table

FOREIGN_LIMIT = 0.25  # cores used by processes outside the systems under test: a contended cell


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else 0.0


def summarize(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (phase, op, in-flight, system): medians, and the ratio to `raw` in the phase."""
    groups: dict[tuple[str, str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        key = (cell["phase"], cell["op"], cell["inflight"], cell["system"])
        groups[key].append(cell)
    rows = []
    for (phase, op, inflight, system), runs in groups.items():
        cpu_per_req: dict[str, list[float]] = defaultdict(list)
        for r in runs:
            for g, secs in (r["cpu"].get("groups") or {}).items():
                cpu_per_req[g].append(secs * 1e6 / max(1, r["ok"]))  # µs of CPU per request
        rows.append(
            {
                "phase": phase,
                "op": op,
                "inflight": inflight,
                "system": system,
                "repeats": len(runs),
                "throughput_rps": _median([r["throughput_rps"] for r in runs]),
                "throughput_all": [r["throughput_rps"] for r in runs],
                "p50_ms": _median([r["latency_ms"]["p50"] for r in runs]),
                "p99_ms": _median([r["latency_ms"]["p99"] for r in runs]),
                "errors": sum(r["errors"] for r in runs),
                "contended_runs": sum(1 for r in runs if r.get("foreign_cores", 0) > FOREIGN_LIMIT),
                "machine_util": _median([r["cpu"].get("machine_util", 0.0) for r in runs]),
                "cpu_us_per_req": {g: _median(v) for g, v in sorted(cpu_per_req.items())},
            }
        )
    floor = {
        (r["phase"], r["op"], r["inflight"]): r for r in rows if r["system"] == "raw"
    }  # fmt: skip
    for r in rows:
        base = floor.get((r["phase"], r["op"], r["inflight"]))
        ok = base is not None and base["throughput_rps"] > 0
        r["ratio_to_raw"] = round(r["throughput_rps"] / base["throughput_rps"], 2) if ok else None
        ok99 = base is not None and base["p99_ms"] > 0
        r["p99_ratio_to_raw"] = round(r["p99_ms"] / base["p99_ms"], 2) if ok99 else None
    rows.sort(key=lambda r: (r["phase"], r["op"], r["inflight"], r["system"]))
    return rows


def _cells(
    sel: list[dict[str, Any]], present: list[str], inflight: int, br: str, *, errors: bool
) -> list[str]:
    """One row's cells: throughput (ratio to raw, ! when contended), then p50 / p99."""
    cells = []
    for system in present:
        hit = [r for r in sel if r["system"] == system and r["inflight"] == inflight]
        if not hit:
            cells.append("")
            continue
        r = hit[0]
        ratio = "" if r["ratio_to_raw"] is None else f" (x{r['ratio_to_raw']:.2f})"
        flag = " !" if r["contended_runs"] else ""
        errs = f" [red]{r['errors']} err[/red]" if errors and r["errors"] else ""
        cells.append(
            f"{r['throughput_rps']:,.0f}{ratio}{flag}{errs}{br}"
            f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f}"
        )
    return cells


def print_tables(console: Console, rows: list[dict[str, Any]], systems: list[str]) -> None:
    """Per phase and op: throughput (ratio to raw) and p50/p99 per system and in-flight level."""
    for phase in sorted({r["phase"] for r in rows}):
        for op in sorted({r["op"] for r in rows if r["phase"] == phase}):
            sel = [r for r in rows if r["phase"] == phase and r["op"] == op]
            present = [s for s in systems if any(r["system"] == s for r in sel)]
            table = Table(
                title=f"{phase} — op {op}: req/s median (x raw floor) · p50 / p99 ms",
                title_justify="left",
            )
            table.add_column("in flight", justify="right")
            for s in present:
                table.add_column(s, justify="right")
            for n in sorted({r["inflight"] for r in sel}):
                table.add_row(str(n), *_cells(sel, present, n, "\n", errors=True))
            console.print(table)
    if any(r["contended_runs"] for r in rows):
        console.print(
            f"! = at least one repeat ran while processes outside the systems under test used "
            f"> {FOREIGN_LIMIT} cores (see foreign_cores in the JSON)"
        )


def markdown(rows: list[dict[str, Any]], systems: list[str]) -> str:
    """The same tables as Markdown, for bench/README.md."""
    out = []
    for phase in sorted({r["phase"] for r in rows}):
        for op in sorted({r["op"] for r in rows if r["phase"] == phase}):
            sel = [r for r in rows if r["phase"] == phase and r["op"] == op]
            present = [s for s in systems if any(r["system"] == s for r in sel)]
            out.append(f"\n**{phase}, op `{op}`** — req/s median (x raw floor), p50 / p99 ms\n")
            out.append("| in flight | " + " | ".join(present) + " |")
            out.append("|---:|" + "---:|" * len(present))
            for n in sorted({r["inflight"] for r in sel}):
                cells = _cells(sel, present, n, "<br>", errors=False)
                out.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
