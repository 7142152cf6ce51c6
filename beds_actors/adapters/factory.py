"""Build the adapter for a configured store by its kind."""

from __future__ import annotations

from beds_actors.adapters.base import Adapter
from beds_actors.config import StoreConfig


def build_adapter(store_name: str, cfg: StoreConfig) -> Adapter:
    """The adapter serving `cfg.kind`; imported lazily so a node loads only what it uses."""
    if cfg.kind == "mariadb":
        from beds_actors.adapters.mariadb import MariaDbAdapter

        return MariaDbAdapter(store_name, cfg)
    raise NotImplementedError(
        f"stores.{store_name}.kind = {cfg.kind!r}: no adapter for this kind in this release"
    )
