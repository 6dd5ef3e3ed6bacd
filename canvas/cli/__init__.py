"""The `boundless` command line. Entry point: `main`."""

from canvas.cli.main import main

__all__ = ["main"]
