"""Start a local Ray node for this role, or join the cluster named in config."""

from __future__ import annotations

import os

import ray

from beds_actors.config import BedsConfig
from beds_actors.ipl.placement import ROLE_LABEL, carries, node_labels

# Ray's defaults that would send traffic off this machine or to the outward address.
_LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
# The dashboard (and its job/state API) runs code for whoever reaches it: loopback only.
DASHBOARD_HOST = "127.0.0.1"


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
                dashboard_host=DASHBOARD_HOST,
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


def dashboard_url() -> str | None:
    """http://host:port of the connected cluster's dashboard, or None when it runs none.

    Ray 2.60 deprecates `ray.get_dashboard_url()` in favour of ray.init()'s
    address_info["webui_url"]; the driver's node object holds the same address_info, so
    this also works after `start_ray` returned (and when joining a cluster).
    """
    if not ray.is_initialized():
        return None
    node = ray._private.worker.global_worker.node
    url = node.address_info.get("webui_url") if node is not None else None
    if not url:
        return None
    return url if "://" in url else f"http://{url}"


def dashboard_hint() -> str | None:
    """One line for `beds up`: where the dashboard is and how to get past its token check."""
    url = dashboard_url()
    if url is None:
        return None
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    if not is_token_auth_enabled():
        return f"Ray dashboard: {url} (no token auth)"
    # Ray's token lookup order: RAY_AUTH_TOKEN, then RAY_AUTH_TOKEN_PATH, then this file.
    where = (
        "$RAY_AUTH_TOKEN"
        if os.environ.get("RAY_AUTH_TOKEN")
        else os.environ.get("RAY_AUTH_TOKEN_PATH") or "~/.ray/auth_token"
    )
    return (
        f"Ray dashboard: {url} — token auth: paste the token from `ray get-auth-token` "
        f"(read from {where}); API clients send `Authorization: Bearer <token>`"
    )


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
