"""Roles → Ray node labels: where each actor may run."""

from __future__ import annotations

from collections.abc import Sequence

ROLE_LABEL = "role"
ANY_ROLE = "any"  # a node that carries every role (one local node for tests and `make run`)


def node_labels(roles: Sequence[str]) -> dict[str, str]:
    """Labels for a local node started for `roles`."""
    return {ROLE_LABEL: roles[0] if len(roles) == 1 else ANY_ROLE}


def selector(*roles: str) -> dict[str, str]:
    """Ray `label_selector` for an actor that belongs on a node of one of `roles`."""
    return {ROLE_LABEL: f"in({','.join([*roles, ANY_ROLE])})"}


def carries(labels: dict[str, str], role: str) -> bool:
    """Whether a node with `labels` may run `role`'s actors."""
    return labels.get(ROLE_LABEL) in (role, ANY_ROLE)
