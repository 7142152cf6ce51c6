"""`include_dashboard = true`: the dashboard is on loopback, behind the token, and lists BEDS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RBROKER = "beds/appServer/rBroker/0"


def test_dashboard_on_loopback_shows_named_beds_actors() -> None:
    # A fresh process: the session's shared Ray runs without a dashboard.
    done = subprocess.run(
        [sys.executable, "-m", "tests.dashboard_check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["url"].startswith("http://127.0.0.1:"), result["url"]
    assert result["listeners"] == ["127.0.0.1"], result["listeners"]
    assert result["url"] in result["hint"] and "ray get-auth-token" in result["hint"]
    # the state API (`ray list actors`) and the dashboard's own actor API show the topology
    assert RBROKER in result["state_api"], result["state_api"]
    assert result["token_auth"], "this environment runs Ray with token auth"
    assert result["no_token_status"] == 401
    assert result["api_status"] == 200
    assert RBROKER in result["api"], result["api"]
    assert result["outside_loopback"] == []
