"""Database adapters: each implements NamasteCore for one kind of store."""

from beds_actors.adapters.base import Adapter, run_batch
from beds_actors.adapters.factory import build_adapter

__all__ = ["Adapter", "build_adapter", "run_batch"]
