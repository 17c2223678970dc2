"""The command-line interface: a thin layer over the library (see `instacap.cli.app`)."""

from __future__ import annotations

# One module per command (`evaluate` is `instacap eval`, `import_` is `instacap import`).
# Importing a module registers its commands; `instacap --help` lists them in this order, which
# follows the workflow: get posts, prepare, train and caption, measure (numbers, then people).
# isort: off
from instacap.cli import scrape, import_, status, prep, train, caption, demo, evaluate, quiz  # noqa: F401

# isort: on
from instacap.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
