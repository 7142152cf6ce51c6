"""Logging setup shared by the driver and every actor process."""

from __future__ import annotations

import logging
import sys

from beds_actors.config.models import LoggingConfig

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(cfg: LoggingConfig) -> None:
    """Console logging at the configured level; idempotent."""
    root = logging.getLogger("beds")
    root.setLevel(cfg.level)
    if not any(getattr(h, "_beds", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._beds = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False
