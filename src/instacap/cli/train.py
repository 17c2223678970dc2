"""`instacap` commands: train."""

from __future__ import annotations

from instacap.cli.app import app  # noqa: F401
