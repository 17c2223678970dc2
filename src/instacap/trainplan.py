"""What `training.fit` decides before it trains: whether it starts a run, continues it from
last.pt or has nothing to do, and the settings it trains with (`plan`: a run's meta.json read
against the settings given now); a new run's name, and whether the data set can train at all.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from instacap import runs
from instacap.config import ModelConfig, TrainConfig
from instacap.dataset import Dataset
from instacap.errors import CheckpointError, InputError, NotReady
from instacap.progress import Reporter
from instacap.runs import LAST_FILE, META_FILE


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
    runs.check_compatible({**meta, "name": name}, dataset)
    if as_dict(meta.get("dataset")).get("fingerprint") != dataset.fingerprint:
        raise InputError(
            f"Data set {dataset.name!r} changed since run {name!r} began; "
            "train a new run (choose another --name) instead of resuming."
        )
    model_config, train_config, preset = _saved_settings(meta, train_config, preset)
    if not resume:
        done = as_dict(meta.get("metrics")).get("epochs_done", 0)
        reporter.note(
            f"Run {name!r} was interrupted after epoch {done}; continuing it from there "
            "(--overwrite starts it over)."
        )
    return "resume", model_config, train_config, preset


def _is_finished(meta: dict[str, Any], train_config: TrainConfig) -> bool:
    """All epochs done, or stopped early: `fit` records `stopped_early` once it ends."""
    metrics = as_dict(meta.get("metrics"))
    done = metrics.get("epochs_done", 0)
    return metrics.get("stopped_early") is not None or (
        isinstance(done, int) and done >= train_config.epochs
    )


def _saved_meta(path: Path) -> dict[str, Any] | None:
    """meta.json of a run that never saved a checkpoint, or None when it cannot be used."""
    try:
        meta = runs.read_meta(path)
        runs.model_config_from(meta)
        TrainConfig(**meta["train_config"])
    except (CheckpointError, NotReady, KeyError, TypeError):
        return None
    return meta


def _saved_settings(
    meta: dict[str, Any], given: TrainConfig, preset: str
) -> tuple[ModelConfig, TrainConfig, str]:
    """The run's own model and training settings; epochs, patience, threads and device are the
    ones given now."""
    model_config = runs.model_config_from(meta)
    try:
        saved_train = TrainConfig(**{**meta["train_config"], "device": given.device})
    except (KeyError, TypeError) as exc:
        raise CheckpointError(
            f"meta.json of this run has unreadable training settings ({exc}); start a new run."
        ) from exc
    train_config = replace(
        saved_train, epochs=given.epochs, patience=given.patience, threads=given.threads
    )
    return model_config, train_config, str(meta.get("preset", preset))


def _same_settings(
    meta: dict[str, Any],
    dataset: Dataset,
    model_config: ModelConfig,
    train_config: TrainConfig,
    preset: str,
) -> bool:
    """Whether an existing run was started with these settings on this data set: then asking
    for it again means continuing it (or nothing, when it has finished)."""

    def loose(config: dict[str, Any]) -> dict[str, Any]:
        # Where and how fast it runs changes no result worth refusing over.
        return {k: v for k, v in config.items() if k not in ("device", "threads")}

    return (
        as_dict(meta.get("model_config")) == asdict(model_config)
        and loose(as_dict(meta.get("train_config"))) == loose(asdict(train_config))
        and meta.get("preset", "default") == preset
        and as_dict(meta.get("dataset")).get("fingerprint") == dataset.fingerprint
    )


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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
