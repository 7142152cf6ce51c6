"""Build the adapter for a configured store by its kind."""

from __future__ import annotations

from collections.abc import Callable

from beds_actors.adapters.base import Adapter
from beds_actors.config import StoreConfig


def _mariadb(store_name: str, cfg: StoreConfig) -> Adapter:
    from beds_actors.adapters.mariadb import MariaDbAdapter

    return MariaDbAdapter(store_name, cfg)


def _mongodb(store_name: str, cfg: StoreConfig) -> Adapter:
    from beds_actors.adapters.mongodb import MongoDbAdapter

    return MongoDbAdapter(store_name, cfg)


# The one list of store kinds this release has an adapter for: `build_adapter` and the IPL's
# registry check both read it, so adding an adapter here is all it takes.
_BUILDERS: dict[str, Callable[[str, StoreConfig], Adapter]] = {
    "mariadb": _mariadb,
    "mongodb": _mongodb,
}


def supports(kind: str) -> bool:
    """Whether this release has an adapter for stores of `kind`."""
    return kind in _BUILDERS


def supported_kinds() -> list[str]:
    """The store kinds this release has an adapter for, sorted."""
    return sorted(_BUILDERS)


def build_adapter(store_name: str, cfg: StoreConfig) -> Adapter:
    """The adapter serving `cfg.kind`; imported lazily so a node loads only what it uses."""
    builder = _BUILDERS.get(cfg.kind)
    if builder is None:
        raise NotImplementedError(
            f"stores.{store_name}.kind = {cfg.kind!r}: no adapter for this kind in this release "
            f"(supported: {', '.join(supported_kinds())})"
        )
    return builder(store_name, cfg)
