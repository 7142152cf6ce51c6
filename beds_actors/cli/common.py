"""What every `beds` subcommand shares: how errors are printed and how config is loaded."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from beds_actors.config import BedsConfig, ConfigError, load

err = Console(stderr=True, soft_wrap=True, highlight=False)


def stdout_console() -> Console:
    """Console for tables: the terminal's width, or wide enough not to cut text in a pipe."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def fail(message: str) -> None:
    """Print an error for the operator: red, unwrapped, brackets shown literally."""
    err.print(escape(message), style="red")


def config_or_exit() -> BedsConfig:
    """Load the config, or print every problem and exit 2."""
    try:
        return load()
    except ConfigError as exc:
        fail(str(exc))
        raise typer.Exit(2) from None
