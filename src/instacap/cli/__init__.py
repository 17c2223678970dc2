"""The command-line interface: a thin layer over the library (see `instacap.cli.app`)."""

from __future__ import annotations

from instacap.cli import data, evaluate, prep, scrape, train  # noqa: F401  (registers commands)
from instacap.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
