"""Command-line entry points: `beds` and `beds-submit`."""
