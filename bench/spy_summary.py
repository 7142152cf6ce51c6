"""Summarize `py-spy record --format raw` output: where the samples go, by frame and by layer."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# Walking a stack from the leaf up, the first frame matching a rule decides the layer.
LAYERS: list[tuple[str, re.Pattern[str]]] = [
    ("socket I/O (stream write/read)", re.compile(r"\(asyncio/(streams|selector_events)\.py")),
    ("AMQP client (aiormq/pamqp/aio-pika)", re.compile(r"\((aiormq|pamqp|aio_pika)/")),
    ("MariaDB driver (aiomysql/PyMySQL)", re.compile(r"\((aiomysql|pymysql)/")),
    ("request decode+validate (pydantic)", re.compile(r"\(pydantic|payload\.py|validation\.py")),
    ("Ray (core worker, serialization)", re.compile(r"\(ray/|_raylet|cloudpickle|serialization")),
    ("BEDS dispatcher", re.compile(r"dispatcher\.py")),
    ("BEDS adapter", re.compile(r"adapters/")),
    ("event loop (asyncio/uvloop)", re.compile(r"\((asyncio|uvloop)/|uvloop")),
]


def read(path: Path) -> list[tuple[str, list[str], int]]:
    """(thread, frames root→leaf, samples) per line; the thread frame comes from `--threads`."""
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        thread = frames.pop(0) if frames and frames[0].startswith("thread ") else "thread ?"
        stacks.append((thread.split(": ", 1)[-1], frames, int(count)))
    return stacks


def layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, rule in LAYERS:
            if rule.search(frame):
                return name
    if frames and frames[-1].startswith("Thread.run"):
        return "event loop (asyncio/uvloop)"  # uvloop's run_forever is C: no deeper frame
    return "other Python"


def summarize(path: Path, top: int = 12, thread: str = "AsyncIO Thread") -> str:
    """Threads by share of samples; layers and top frames of the event-loop thread."""
    stacks = read(path)
    total = sum(n for _, _, n in stacks) or 1
    threads: Counter[str] = Counter()
    for name, _, n in stacks:
        threads[name] += n
    mine = [(f, n) for name, f, n in stacks if name.startswith(thread)]
    if not mine:  # no thread names: use everything
        mine = [(f, n) for _, f, n in stacks]
    loop_total = sum(n for _, n in mine) or 1
    layers: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    for frames, n in mine:
        layers[layer(frames)] += n
        leaf[frames[-1] if frames else "?"] += n
    lines = [f"### {path.name}: {total} samples (py-spy, non-idle)", ""]
    lines += ["| thread | share of samples |", "|---|---:|"]
    lines += [f"| {name} | {n / total:.1%} |" for name, n in threads.most_common(5)]
    lines += ["", f"Event-loop thread ({loop_total} samples), by layer:", ""]
    lines += ["| layer | share |", "|---|---:|"]
    lines += [f"| {name} | {n / loop_total:.1%} |" for name, n in layers.most_common()]
    lines += ["", "| self time, event-loop thread: top frames | share |", "|---|---:|"]
    lines += [f"| `{f[:110]}` | {n / loop_total:.1%} |" for f, n in leaf.most_common(top)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(summarize(Path(arg)))
