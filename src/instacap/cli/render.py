"""Rich output for the CLI: consoles, progress bars fed by the library's Reporter, messages, JSON.

Messages and progress go to stderr, results to stdout. Rich already honours NO_COLOR and
plain output when the stream is not a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
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
from rich.text import Text

from instacap import highlight

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
        if info:
            self._progress.update(self._tasks[task], advance=n, info=_fmt(info))
        else:
            self._progress.update(self._tasks[task], advance=n)

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


# -- the coloured caption renderer (shared by `train`, `caption` and `demo`) ------------------------

CAPTION_STYLES = {
    "hashtag": "bold magenta",
    "mention": "bold cyan",
    "url": "underline blue",
    "emoji": "yellow",
}
# Tokens the model gave low probability (highlight.UNSURE / VERY_UNSURE) are shaded.
_DOUBT_STYLES: dict[str | None, str] = {"unsure": "dim", "very unsure": "dim italic"}


def caption_text(
    tokens: Sequence[str] | str, probs: Sequence[float] | None = None, index: int | None = None
) -> Text:
    """A caption as Rich Text: hashtags, mentions, URLs and emoji coloured; tokens the model gave
    low probability shaded (dim, and dim italic when very unsure). Plain under NO_COLOR or when
    the output is not a terminal (Rich drops the styles)."""
    pieces = [tokens] if isinstance(tokens, str) else list(tokens)
    text = "".join(pieces)
    out = Text(f"{index}. " if index is not None else "")
    base = len(out.plain)
    out.append(text)
    for start, end, kind in highlight.spans(text):
        out.stylize(CAPTION_STYLES[kind], base + start, base + end)
    if probs is not None and not isinstance(tokens, str):
        pos = base
        for piece, p in zip(pieces, probs, strict=False):
            shade = _DOUBT_STYLES.get(highlight.doubt(p), "")
            if shade:
                out.stylize(shade, pos, pos + len(piece))
            pos += len(piece)
    return out


def caption_legend() -> Text:
    legend = Text()
    legend.append("colours: ", style="dim")
    for label, kind in (("#hashtag", "hashtag"), ("@mention", "mention"), ("emoji ✨", "emoji"),
                        ("https://url", "url")):  # fmt: skip
        legend.append(label, style=CAPTION_STYLES[kind])
        legend.append("  ")
    legend.append("unsure", style="dim")
    legend.append(" / ", style="dim")
    legend.append("very unsure", style="dim italic")
    legend.append(" (model's probability < 50% / < 20%)", style="dim")
    return legend
