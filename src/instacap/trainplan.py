"""What `training.fit` decides before it trains: whether it starts a run, continues it from
last.pt or has nothing to do, and the settings it trains with (`plan`: a run's meta.json read
against the settings given now); a new run's name, and whether the data set can train at all.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from instacap import runs
from instacap.config import ModelConfig, TrainConfig
from instacap.dataset import Dataset
from instacap.errors import CheckpointError, InputError, NotReady
from instacap.progress import Reporter
from instacap.runs import LAST_FILE, META_FILE, RunMeta


def plan(
    path: Path,
    name: str,
    dataset: Dataset,
    model_config: ModelConfig,
    train_config: TrainConfig,
    preset: str,
    resume: bool,
    overwrite: bool,
    reporter: Reporter,
) -> tuple[str, ModelConfig, TrainConfig, str]:
    """Whether to start, continue from last.pt or do nothing, and the settings to train with.

    No combination of `train` and `train --resume` may send the user in a circle, so:
    - a new name starts a run (`--resume` on it is refused: it would train something unasked);
    - a run with meta.json but no last.pt (killed in its first epoch) loses nothing by starting
      over, so it starts again from epoch 1; under `--resume` with the run's saved settings;
    - a run with last.pt continues under `--resume`; without it, when it is unfinished and the
      settings are the ones it was started with (the same command run again), it continues too;
      otherwise it is refused (`--overwrite` starts it over). The same command for a run that
      has finished does nothing ("done"), like prep when nothing changed.

    Returns the mode ("fresh", "resume" or "done") and the settings to train with.
    """
    if not (path / META_FILE).is_file():
        if resume:
            # Starting afresh under --resume would silently train something else than asked.
            raise NotReady(
                f"Run {name!r} has nothing to resume (no {LAST_FILE}); "
                "train it without --resume first."
            )
        runs.clear(path)  # leftovers of a run whose meta.json is gone cannot be continued
        return "fresh", model_config, train_config, preset
    if not runs.has_checkpoint(path):
        return _plan_restart(path, name, model_config, train_config, preset, resume, reporter)
    if overwrite and not resume:
        runs.clear(path)
        return "fresh", model_config, train_config, preset
    return _plan_existing(path, name, dataset, model_config, train_config, preset, resume,
                          reporter)  # fmt: skip


def _plan_restart(path: Path, name: str, model_config: ModelConfig, train_config: TrainConfig,
                  preset: str, resume: bool, reporter: Reporter,
                  ) -> tuple[str, ModelConfig, TrainConfig, str]:  # fmt: skip
    """A run killed before its first checkpoint: start it again, with its saved settings under
    `resume`."""
    saved = _saved_meta(path)
    if resume and saved is not None:
        model_config, train_config, preset = _saved_settings(saved, train_config, preset)
    how = "with its saved settings" if resume and saved is not None else "from the start"
    reporter.note(
        f"Run {name!r} stopped before its first epoch ended, so there is nothing to continue; "
        f"training it again {how}."
    )
    runs.clear(path)
    return "fresh", model_config, train_config, preset


def _plan_existing(path: Path, name: str, dataset: Dataset, model_config: ModelConfig,
                   train_config: TrainConfig, preset: str, resume: bool, reporter: Reporter,
                   ) -> tuple[str, ModelConfig, TrainConfig, str]:  # fmt: skip
    """A run with last.pt: continue it, do nothing (finished, same command), or refuse."""
    meta = runs.read_meta(path)
    same = _same_settings(meta, dataset, model_config, train_config, preset)
    if not resume and same and _is_finished(meta, train_config):
        reporter.note(
            f"Run {name!r} has already finished its {train_config.epochs} epochs; nothing to do "
            "(--overwrite trains it again, --resume --epochs N trains it further)."
        )
        return "done", model_config, train_config, preset
    if not resume and not same:
        raise InputError(
            f"Run {name!r} already exists; continue it with --resume, start it over with "
            "--overwrite, or choose another --name."
        )
    runs.check_compatible(replace(meta, name=name), dataset)
    if meta.dataset.fingerprint != dataset.fingerprint:
        raise InputError(
            f"Data set {dataset.name!r} changed since run {name!r} began; "
            "train a new run (choose another --name) instead of resuming."
        )
    model_config, train_config, preset = _saved_settings(meta, train_config, preset)
    if not resume:
        reporter.note(
            f"Run {name!r} was interrupted after epoch {meta.metrics.epochs_done}; continuing it from there "
            "(--overwrite starts it over)."
        )
    return "resume", model_config, train_config, preset


def _is_finished(meta: RunMeta, train_config: TrainConfig) -> bool:
    """All epochs done, or stopped early: `fit` records `stopped_early` once it ends."""
    done = meta.metrics
    return done.stopped_early is not None or done.epochs_done >= train_config.epochs


def _saved_meta(path: Path) -> RunMeta | None:
    """meta.json of a run that never saved a checkpoint, or None when it cannot be used."""
    try:
        return runs.read_meta(path)
    except (CheckpointError, NotReady):
        return None


def _saved_settings(
    meta: RunMeta, given: TrainConfig, preset: str
) -> tuple[ModelConfig, TrainConfig, str]:
    """The run's own model and training settings; epochs, patience, threads and device are the
    ones given now."""
    train_config = replace(
        meta.train_config,
        epochs=given.epochs,
        patience=given.patience,
        threads=given.threads,
        device=given.device,
    )
    return meta.model_config, train_config, meta.preset


def _same_settings(
    meta: RunMeta,
    dataset: Dataset,
    model_config: ModelConfig,
    train_config: TrainConfig,
    preset: str,
) -> bool:
    """Whether an existing run was started with these settings on this data set: then asking
    for it again means continuing it (or nothing, when it has finished)."""
    # Where and how fast it runs changes no result worth refusing over.
    here = replace(train_config, device=meta.train_config.device, threads=meta.train_config.threads)
    return (
        meta.model_config == model_config
        and meta.train_config == here
        and meta.preset == preset
        and meta.dataset.fingerprint == dataset.fingerprint
    )


def default_name(dataset_name: str) -> str:
    """A new run's name when none is given: the data set's, with the date and time."""
    return f"{dataset_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_data(dataset: Dataset) -> None:
    """NotReady when either split of the data set is empty: there is nothing to train or measure."""
    if len(dataset.train) == 0:
        raise NotReady(
            f"Data set {dataset.name!r} has no training captions; add posts and run `instacap prep` again."
        )
    if len(dataset.val) == 0:
        raise NotReady(
            f"Data set {dataset.name!r} has no validation captions; add posts or raise "
            "`instacap prep --val-share`, then prep again."
        )
