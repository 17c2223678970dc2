"""How the library reports progress without printing: a Reporter the caller passes in.

The CLI hands in a Rich implementation (`instacap.cli.render`); library callers and tests may pass
nothing (silent) or their own object with the same three methods.
"""

from __future__ import annotations

from typing import Any, Protocol


class Reporter(Protocol):
    def start(self, task: str, total: int | None = None, **info: Any) -> None:
        """A task begins; `total` units are expected (None when unknown)."""

    def advance(self, task: str, n: int = 1, **info: Any) -> None:
        """`n` more units of `task` are done; `info` carries live figures (loss, skipped, ...)."""

    def note(self, text: str) -> None:
        """A one-line message for the user (e.g. a skipped account, a wait)."""


class Silent:
    """The default Reporter: says nothing."""

    def start(self, task: str, total: int | None = None, **info: Any) -> None:
        pass

    def advance(self, task: str, n: int = 1, **info: Any) -> None:
        pass

    def note(self, text: str) -> None:
        pass


SILENT: Reporter = Silent()
