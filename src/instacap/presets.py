"""`instacap train --preset/--size/--arch`: the model and training settings a preset and the
user's options give, checked, so the CLI only parses and renders.

The size ladder lives here: three rungs per architecture and the rule that picks one from the
training set's size (`--size auto`, docs/model.md has the measurements behind it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from instacap.config import ORIGINAL_MODEL, ORIGINAL_TRAIN, PRESETS, ModelConfig, TrainConfig
from instacap.errors import InputError

SIZE_NAMES = ("small", "base", "large")
ARCH_NAMES = ("lstm", "transformer")
# Each rung's widths, and the AdamW learning rate and schedule it trains best with (wider
# networks need smaller steps, and a warm-up). The LSTM's small rung is the original's width at
# the constant rate it was tuned with: on the demo data a cosine decay cost it 0.25 bpc in 30
# epochs (docs/model.md), since a small data set is still being learnt when training ends.
SIZES: dict[tuple[str, str], dict[str, Any]] = {
    ("lstm", "small"): {
        "embed": 128,
        "hidden": 128,
        "layers": 1,
        "lr": 5e-3,
        "schedule": "constant",
    },
    ("lstm", "base"): {"embed": 128, "hidden": 256, "layers": 1, "lr": 3e-3, "schedule": "cosine"},
    ("lstm", "large"): {"embed": 128, "hidden": 512, "layers": 1, "lr": 2e-3, "schedule": "cosine"},
    ("transformer", "small"): {
        "hidden": 128,
        "layers": 2,
        "heads": 4,
        "lr": 2e-3,
        "schedule": "cosine",
    },
    ("transformer", "base"): {
        "hidden": 192,
        "layers": 4,
        "heads": 6,
        "lr": 1.5e-3,
        "schedule": "cosine",
    },
    ("transformer", "large"): {
        "hidden": 256,
        "layers": 6,
        "heads": 8,
        "lr": 1e-3,
        "schedule": "cosine",
    },
}
_TRAINING_KEYS = ("lr", "schedule")
# `--size auto`: training characters (tokens) at which the next rung starts to pay.
AUTO_BASE_TOKENS = 300_000
AUTO_LARGE_TOKENS = 3_000_000


def auto_size(train_tokens: int) -> str:
    """The rung for a training set of `train_tokens` characters (docs/model.md derives it)."""
    if train_tokens >= AUTO_LARGE_TOKENS:
        return "large"
    return "base" if train_tokens >= AUTO_BASE_TOKENS else "small"


def model_config(
    size: str = "auto", arch: str = "lstm", train_tokens: int | None = None
) -> ModelConfig:
    """The network of rung `size` of architecture `arch`. "auto" is decided from `train_tokens`;
    without them it stays "auto" (size="auto", widths undecided) for training to decide once
    it knows the data set (sizing.choose)."""
    if arch not in ARCH_NAMES:
        raise InputError(f"Unknown --arch {arch!r}; use one of {', '.join(ARCH_NAMES)}.")
    if size not in ("auto", *SIZE_NAMES):
        raise InputError(f"Unknown --size {size!r}; use auto or one of {', '.join(SIZE_NAMES)}.")
    if size == "auto" and train_tokens is None:
        return ModelConfig(size="auto", arch="merge-inject" if arch == "lstm" else "transformer")
    size = auto_size(train_tokens or 0) if size == "auto" else size
    widths = {k: v for k, v in SIZES[arch, size].items() if k not in _TRAINING_KEYS}
    return ModelConfig(
        size=size, arch="merge-inject" if arch == "lstm" else "transformer", **widths
    )


def arch_name(config: ModelConfig) -> str:
    """`--arch` of a network: 'transformer' or 'lstm' (any of the merge variants)."""
    return "transformer" if config.arch == "transformer" else "lstm"


def _rung(config: ModelConfig) -> dict[str, Any]:
    """The ladder entry of a network (the small LSTM's for hand-made widths)."""
    return SIZES.get((arch_name(config), config.size), SIZES["lstm", "small"])


def resolve(model: ModelConfig, train: TrainConfig) -> TrainConfig:
    """`train` with its learning rate and schedule decided: the given ones, else the model's
    rung's."""
    rung = _rung(model)
    lr = train.lr if train.lr is not None else float(rung["lr"])
    return replace(train, lr=lr, schedule=train.schedule or str(rung["schedule"]))


def train_settings(
    preset: str = "default",
    *,
    size: str | None = None,
    arch: str | None = None,
    epochs: int = TrainConfig.epochs,
    batch_size: int | None = None,
    lr: float | None = None,
    patience: int = TrainConfig.patience,
    seed: int = TrainConfig.seed,
    device: str = TrainConfig.device,
    threads: int = TrainConfig.threads,
) -> tuple[ModelConfig | None, TrainConfig]:
    """The preset's ModelConfig and TrainConfig with the given options; `batch_size` and `lr`
    keep the preset's own value when None (the original trains with batch 10 and lr 0.001).

    The model is None when neither `size` nor `arch` is given to the default preset: a new run
    then gets `--size auto` of the LSTM, and a run being continued keeps its own (training.fit
    decides, once it knows the data set). Given ones are checked against a continued run's."""
    if preset not in PRESETS:
        raise InputError(f"Unknown preset {preset!r}; use {' or '.join(PRESETS)}.")
    check_numbers(epochs, batch_size, lr, patience)
    model_cfg: ModelConfig | None
    if preset == "original":
        if size is not None or arch is not None:
            raise InputError("--preset original is the original's network; drop --size and --arch.")
        model_cfg, train_cfg = ORIGINAL_MODEL, ORIGINAL_TRAIN
    elif size is None and arch is None:
        model_cfg, train_cfg = None, TrainConfig()
    else:
        model_cfg = model_config(size or "auto", arch or "lstm")
        train_cfg = TrainConfig()
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
