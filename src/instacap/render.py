"""Rich output for the CLI: consoles, progress bars fed by the library's Reporter, messages, JSON.

Messages and progress go to stderr, results to stdout. Rich already honours NO_COLOR and
plain output when the stream is not a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

err = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """The one red line a failure shows."""
    err.print(f"[bold red]Error:[/] {escape(message)}", markup=True, highlight=False)


def warn(message: str) -> None:
    err.print(f"[yellow]{escape(message)}[/]")


def info(message: str) -> None:
    err.print(message)


def print_json(data: Any) -> None:
    """Machine-readable result on stdout (no colour, one document)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


class RichReporter:
    """Implements `instacap.progress.Reporter` with one Rich progress bar per task."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def start(self, task: str, total: int | None = None, **info: Any) -> None:
        if task in self._tasks:
            self._progress.reset(self._tasks[task], total=total, info=_fmt(info))
        else:
            self._tasks[task] = self._progress.add_task(task, total=total, info=_fmt(info))

    def advance(self, task: str, n: int = 1, **info: Any) -> None:
        if task not in self._tasks:
            self.start(task)
        fields = {"info": _fmt(info)} if info else {}
        self._progress.update(self._tasks[task], advance=n, **fields)

    def note(self, text: str) -> None:
        self._progress.console.print(text, markup=False, highlight=False)


@contextmanager
def reporting(transient: bool = False) -> Iterator[RichReporter]:
    """A Rich progress display on stderr for the duration of a library call."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=err,
        transient=transient,
    )
    with progress:
        yield RichReporter(progress)


def _fmt(info: dict[str, Any]) -> str:
    parts = []
    for key, value in info.items():
        if isinstance(value, float):
            value = f"{value:.3g}"
        parts.append(f"{key} {value}")
    return "  ".join(parts)
