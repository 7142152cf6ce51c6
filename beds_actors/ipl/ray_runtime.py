"""Start a local Ray node for this role, or join the cluster named in config."""

from __future__ import annotations

import os

import ray

from beds_actors.config import BedsConfig
from beds_actors.ipl.placement import ROLE_LABEL, carries, node_labels

# Ray's defaults that would send traffic off this machine or to the outward address.
_LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


class RayUnavailable(Exception):
    """Ray could not be started or joined, or no node carries this role's label."""


def start_ray(cfg: BedsConfig) -> bool:
    """Make sure Ray is initialised; returns True when this call started it (so we stop it)."""
    if ray.is_initialized():
        return False
    try:
        # Inside a Ray job (beds-submit) RAY_ADDRESS points at the cluster that runs us.
        address = cfg.ray.address or os.environ.get("RAY_ADDRESS", "")
        if address:
            ray.init(address=address, namespace=cfg.ray.namespace, log_to_driver=True)
        else:
            keep_local_node_on_loopback()
            ray.init(
                # "local": always a new node of our own, never a cluster that `ray start`
                # left running on this machine (which would also refuse our labels).
                address="local",
                namespace=cfg.ray.namespace,
                include_dashboard=cfg.ray.include_dashboard,
                labels=node_labels(cfg.node.roles),
                log_to_driver=True,
                configure_logging=False,
            )
    except Exception as exc:
        where = cfg.ray.address or "a new local Ray node"
        raise RayUnavailable(
            f"cannot start or join Ray ({where}): {exc} — check ray.address"
        ) from None
    return True


def keep_local_node_on_loopback() -> None:
    """Bind a local Ray node to 127.0.0.1 instead of the machine's outward address.

    Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER when it is imported, so the env var alone is
    too late once `ray` is imported; it is set for the processes Ray spawns and the constant
    is lowered for this one. Never used when joining a cluster, whose nodes must be reachable.
    """
    for key, value in _LOCAL_ENV.items():
        os.environ.setdefault(key, value)
    if os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0":
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False


def require_role_nodes(roles: list[str]) -> None:
    """Fail loudly instead of leaving actors pending when no live node carries a role."""
    labels = [n.get("Labels", {}) for n in ray.nodes() if n.get("Alive")]
    for role in roles:
        if not any(carries(lbl, role) for lbl in labels):
            seen = sorted({lbl.get(ROLE_LABEL, "<none>") for lbl in labels})
            raise RayUnavailable(
                f"no live Ray node carries label {ROLE_LABEL}={role} (node roles: {seen}); "
                f"start one with `ray start --labels={ROLE_LABEL}={role} --address=<head>`, "
                "or change node.roles"
            )
