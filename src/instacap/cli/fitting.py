"""What `instacap train` and `instacap demo` share: progress while fitting, the run's page, the
result as JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from instacap.cli.app import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from instacap.dataset import Dataset


def fit(quiet: bool, fit: Callable[[Any, Callable[[Any], None]], Any]) -> Any:
    """Run `fit(reporter, on_epoch)` (training.fit) with Rich progress and a coloured sample after
    each epoch; Ctrl-C ends with how to resume."""
    from instacap import training
    from instacap.cli import render

    def on_epoch(r: Any) -> None:
        if quiet:
            return
        flag = " [green]best[/]" if r.best else ""
        render.err.print(
            f"epoch {r.epoch}/{r.epochs}: loss {r.train_loss:.3f}  val bpc {r.val_bpc:.3f}  "
            f"{r.captions_per_s:.0f} captions/s{flag}"
        )
        if r.sample is not None:
            render.err.print(render.caption_text(r.sample.tokens, r.sample.probs), "  ")

    with render.reporting(transient=True) as reporter:
        try:
            return fit(reporter, on_epoch)
        except training.Interrupted as stop:
            name = stop.name
    render.warn(
        f"Interrupted: progress is saved; `instacap train --name {name} --resume` continues."
    )
    raise typer.Exit(EXIT_INTERRUPTED)


def write_report(name: str, data: Dataset) -> Path | None:
    """runs/<name>/report.html (curves, last validation, a few captioned validation photos).
    The run is already saved: a page that cannot be written is a warning, not a failure."""
    from instacap import report
    from instacap.cli import render
    from instacap.errors import InstacapError

    try:
        return report.write_training_report(name, data)
    except (OSError, InstacapError) as exc:
        render.warn(f"The run is saved, but its {report.REPORT_FILE} was not written: {exc}")
        return None


def result_json(result: Any) -> dict[str, Any]:
    return {
        "run": result.name,
        "path": str(result.path),
        "best_epoch": result.best_epoch,
        "best_val_bpc": round(result.best_val_bpc, 5),
        "stopped_early": result.stopped_early,
        "epochs": result.history,
    }
