"""`beds bench` smoke: a 2 s run at low concurrency against the test BEDS (no throughput checks)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from beds_actors.ipl import System
from tests.conftest import TEST_CONFIG

pytestmark = pytest.mark.integration
BEDS = str(Path(sys.executable).with_name("beds"))
RESULT_KEYS = {
    "system", "target", "mix", "inflight", "duration_s", "warmup_s", "started_at", "requests",
    "ok", "errors", "error_codes", "throughput_rps", "latency_ms", "per_op", "cpu",
}  # fmt: skip


async def test_bench_runs_prints_and_writes_json(beds: System, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDS")}
    env.update({"BEDS_CONFIG": str(TEST_CONFIG), "BEDS_ENV": "dev"})
    argv = [
        BEDS, "bench", "--inflight", "4", "--duration", "2", "--warmup", "0.5", "--seed", "20",
        "--mix", "read=2,create=1,fetch=1", "--system", "smoke", "--json-out", str(out),
    ]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, argv, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "smoke: 4 in flight" in done.stdout  # the human summary
    assert "req/s" in done.stdout
    result = json.loads(out.read_text())
    assert set(result) >= RESULT_KEYS
    assert result["errors"] == 0, result["error_codes"]
    assert result["ok"] > 0
    assert set(result["per_op"]) == {"read", "create", "fetch"}
    assert set(result["latency_ms"]) == {"p50", "p95", "p99", "mean", "max"}
    assert result["target"]["exchange"] == "beds_test"
    assert "generator" in result["cpu"]["groups"]
