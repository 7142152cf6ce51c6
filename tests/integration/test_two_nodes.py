"""Two Ray nodes on this machine with different role labels: brokers land by role."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_brokers_land_only_on_nodes_with_their_role_label() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.cluster_check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["nodes"] == ["admin", "appServer"]
    placed = result["placed"]
    assert placed, "no broker placed"
    for name, role in placed.items():
        assert name.split("/")[1] == role, (name, role)
    assert {"admin", "appServer"} <= set(placed.values())
    # a role no node carries is refused at IPL instead of leaving actors pending forever
    assert "no live Ray node carries label role=segundo" in result["segundo"]
    assert result["outside_loopback"] == []
