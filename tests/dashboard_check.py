"""Run BEDS on a fresh local Ray *with* its dashboard and print what the dashboard shows (JSON).

Used by tests/integration/test_dashboard.py in a fresh process: the session's shared Ray runs
without a dashboard, and a process starts one Ray at a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import psutil
import ray
from ray.util.state import list_actors

from beds_actors.amqp.topology import connect, delete_topology
from beds_actors.config import BedsConfig
from beds_actors.ipl import ipl
from beds_actors.ipl.ray_runtime import dashboard_hint, dashboard_url
from beds_actors.testing import isolated_overrides
from beds_actors.testing.network import outside_loopback
from tests.conftest import load_test_config

TAG = "dashboard_check"
API_WAIT_S = 20.0


def listeners(port: int) -> list[str]:
    """Addresses this process tree listens on at `port` (the dashboard's HTTP server)."""
    me = psutil.Process()
    found = []
    for proc in [me, *me.children(recursive=True)]:
        try:
            conns = proc.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found += [c.laddr.ip for c in conns if c.status == "LISTEN" and c.laddr.port == port]
    return sorted(set(found))


def http_get(url: str, token: str | None) -> tuple[int, str]:
    """Status and body of GET url, with the bearer token when given; HTTP errors included."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def actors_api(base: str, token: str | None, namespace: str) -> tuple[int, list[str]]:
    """The dashboard's /api/v0/actors: status and the alive BEDS actor names it lists."""
    deadline = time.monotonic() + API_WAIT_S
    while True:
        status, body = http_get(f"{base}/api/v0/actors?limit=1000", token)
        if status != 200 or time.monotonic() > deadline:
            break
        result = json.loads(body).get("data", {}).get("result", {}).get("result", [])
        names = [
            a["name"]
            for a in result
            if a.get("state") == "ALIVE" and a.get("ray_namespace") == namespace
        ]
        if names:
            return status, sorted(names)
        time.sleep(0.5)
    return status, []


def raw_token() -> str | None:
    """The token this node runs with (Ray's own loader: env var, token path, default file)."""
    from ray._raylet import AuthenticationTokenLoader  # type: ignore[attr-defined]

    loader = AuthenticationTokenLoader.instance()
    return loader.get_raw_token(ignore_auth_mode=True) if loader.has_token() else None


async def main() -> dict[str, object]:
    cfg: BedsConfig = load_test_config(
        **isolated_overrides(TAG), BEDS__RAY__INCLUDE_DASHBOARD="true"
    )
    system = await ipl(lambda: cfg)
    try:
        url = dashboard_url()
        out: dict[str, object] = {"url": url, "hint": dashboard_hint()}
        assert url, "no dashboard URL although include_dashboard = true"
        port = urlparse(url).port or 80
        out["listeners"] = listeners(port)
        # The address: another Ray may run on this machine (the test session's own).
        state = list_actors(address=url, filters=[("state", "=", "ALIVE")], limit=1000)
        out["state_api"] = sorted(
            a.name for a in state if a.name and a.ray_namespace == cfg.ray.namespace
        )
        token = raw_token()
        out["token_auth"] = token is not None
        out["no_token_status"] = http_get(f"{url}/api/v0/actors", None)[0]
        out["api_status"], out["api"] = actors_api(url, token, cfg.ray.namespace)
        out["outside_loopback"] = outside_loopback()
    finally:
        await system.stop()
        connection = await connect(cfg.amqp, "dashboard-check-cleanup")
        await delete_topology(connection, cfg)
        await connection.close()
        ray.shutdown()
    return out


if __name__ == "__main__":
    print("RESULT " + json.dumps(asyncio.run(main())))
    sys.stdout.flush()
