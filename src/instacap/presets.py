"""`instacap train --preset`: the model and training settings a preset and the user's options
give, checked, so the CLI only parses and renders."""

from __future__ import annotations

from dataclasses import replace

from instacap.config import ORIGINAL_MODEL, ORIGINAL_TRAIN, PRESETS, ModelConfig, TrainConfig
from instacap.errors import InputError


def train_settings(
    preset: str = "default",
    *,
    epochs: int = TrainConfig.epochs,
    batch_size: int | None = None,
    lr: float | None = None,
    patience: int = TrainConfig.patience,
    seed: int = TrainConfig.seed,
    device: str = TrainConfig.device,
    threads: int = TrainConfig.threads,
) -> tuple[ModelConfig, TrainConfig]:
    """The preset's ModelConfig and TrainConfig with the given options; `batch_size` and `lr`
    keep the preset's own value when None (the original trains with batch 10 and lr 0.001)."""
    if preset not in PRESETS:
        raise InputError(f"Unknown preset {preset!r}; use {' or '.join(PRESETS)}.")
    check_numbers(epochs, batch_size, lr, patience)
    model_cfg, train_cfg = (
        (ORIGINAL_MODEL, ORIGINAL_TRAIN) if preset == "original" else (ModelConfig(), TrainConfig())
    )
    train_cfg = replace(
        train_cfg,
        epochs=epochs,
        patience=patience,
        seed=seed,
        device=device,
        threads=threads,
        batch_size=batch_size or train_cfg.batch_size,
        lr=lr or train_cfg.lr,
    )
    return model_cfg, train_cfg


def check_numbers(epochs: int, batch_size: int | None, lr: float | None, patience: int) -> None:
    """One sentence naming the first out-of-range option (a negative patience would stop training
    after the first epoch)."""
    if epochs < 1:
        raise InputError(f"--epochs must be at least 1, not {epochs}.")
    if batch_size is not None and batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, not {batch_size}.")
    if lr is not None and lr <= 0:
        raise InputError(f"--lr must be above 0, not {lr}.")
    if patience < 0:
        raise InputError(f"--patience must be 0 (never stop early) or more, not {patience}.")
