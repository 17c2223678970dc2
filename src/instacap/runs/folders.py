"""Run folders and their names: where `runs/<name>/` is, which runs exist and how far each got,
and removing a run's files to start it over.

A folder with a model (meta.json counting at least one finished epoch, and model.pt) is a trained
run; one with meta.json only stopped before its first epoch ended and is listed as incomplete,
with the command that trains it again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from instacap import paths
from instacap.runs import description
from instacap.runs.description import META_FILE, RunMeta
from instacap.runs.history import METRICS_FILE
from instacap.runs.weights import ARRAYS_FILE, HEADS_FILE, HEADS_META, LAST_FILE, MODEL_FILE


def run_dir(name: str) -> Path:
    return paths.runs_dir() / paths.validate_name(name, "run name")


def run_names() -> list[str]:
    """Runs that have a model, oldest first by last update (the newest is the default run)."""
    root = paths.runs_dir()
    if not root.is_dir():
        return []
    found = [d for d in root.iterdir() if d.is_dir() and is_trained(d)]
    return [d.name for d in sorted(found, key=lambda d: (d / META_FILE).stat().st_mtime)]


def incomplete_names() -> list[str]:
    """Run folders without a model yet (stopped before their first epoch ended), by name."""
    root = paths.runs_dir()
    if not root.is_dir():
        return []
    return sorted(
        d.name
        for d in root.iterdir()
        if d.is_dir() and not d.name.startswith(".") and not is_trained(d)
    )


def is_trained(path: Path) -> bool:
    """Whether a run folder holds a model to caption with: meta.json and model.pt, and at least
    one finished epoch. A run killed in its first epoch has meta.json only (or, killed while
    saving that epoch, a model.pt that meta.json does not count yet)."""
    if not ((path / META_FILE).is_file() and (path / MODEL_FILE).is_file()):
        return False
    meta = description.peek(path)
    if meta is None:
        return True  # damaged: description.read says so in one sentence when the run is used
    return meta.metrics.epochs_done >= 1


def has_checkpoint(path: Path) -> bool:
    """Whether `--resume` has something to continue from (last.pt)."""
    return (path / LAST_FILE).is_file()


def latest_started() -> str | None:
    """The run folder with the newest meta.json, trained or not (what `--resume` continues)."""
    root = paths.runs_dir()
    if not root.is_dir():
        return None
    found = [d for d in root.iterdir() if d.is_dir() and (d / META_FILE).is_file()]
    return max(found, key=lambda d: (d / META_FILE).stat().st_mtime).name if found else None


def newest() -> str | None:
    names = run_names()
    return names[-1] if names else None


def retrain_hint(name: str, meta: RunMeta | None = None) -> str:
    """The command that starts an incomplete run again: its data set (when not 'default') and
    epochs as meta.json recorded them."""
    if meta is None:
        return f"`instacap train --name {name}`"
    data = meta.dataset.name
    extra = f" --data {data}" if data and data != "default" else ""
    return f"`instacap train{extra} --epochs {meta.train_config.epochs} --name {name}`"


def clear(path: Path) -> None:
    """Remove a run's files so it starts over (`--overwrite`, or leftovers without meta.json)."""
    files = (MODEL_FILE, ARRAYS_FILE, LAST_FILE, META_FILE, METRICS_FILE, HEADS_FILE, HEADS_META)
    for stale in files:
        (path / stale).unlink(missing_ok=True)


def discard(path: Path) -> None:
    """Remove a run folder that holds nothing worth keeping (a new run the disk could not hold)."""
    shutil.rmtree(path, ignore_errors=True)
