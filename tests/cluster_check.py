"""Run BEDS on a two-node Ray cluster on this machine and print where each actor landed (JSON).

Used by tests/integration/test_two_nodes.py in a fresh process, since a process joins one
Ray cluster at a time. Head: role=appServer; worker: role=admin; every socket on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import ray
from ray.cluster_utils import Cluster

from beds_actors.ipl import IplError, ipl
from beds_actors.testing.network import outside_loopback
from tests.conftest import load_test_config


async def main() -> dict[str, object]:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"labels": {"role": "appServer"}, "num_cpus": 1, "include_dashboard": False},
    )
    cluster.add_node(labels={"role": "admin"}, num_cpus=1)
    ray.init(address=cluster.address, namespace="beds_two_nodes")
    labels = {n["NodeID"]: n["Labels"].get("role") for n in ray.nodes() if n["Alive"]}
    out: dict[str, object] = {"nodes": sorted(v or "" for v in labels.values())}
    env = {
        "BEDS__AMQP__EXCHANGE": "beds_two_nodes",
        "BEDS__AMQP__QUEUE_PREFIX": "beds_two_nodes.",
        "BEDS__RAY__NAMESPACE": "beds_two_nodes",
    }
    try:
        missing = load_test_config(**env, BEDS__NODE__ROLES='["segundo"]')
        await ipl(lambda: missing)
        out["segundo"] = "started?!"
    except IplError as exc:
        out["segundo"] = str(exc)
    cfg = load_test_config(**env, BEDS__NODE__ROLES='["appServer", "admin"]')
    system = await ipl(lambda: cfg)
    try:
        placed = {}
        for name, handle in system.brokers.items():
            placed[name] = labels[await handle.node_id.remote()]
        out["placed"] = placed
        out["outside_loopback"] = outside_loopback()
    finally:
        await system.stop()
        from beds_actors.amqp.topology import connect, delete_topology

        connection = await connect(cfg.amqp, "two-node-cleanup")
        await delete_topology(connection, cfg)
        await connection.close()
        ray.shutdown()
        cluster.shutdown()
    return out


if __name__ == "__main__":
    print("RESULT " + json.dumps(asyncio.run(main())))
    sys.stdout.flush()
