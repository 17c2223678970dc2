"""Which network a run trains, decided before training: the size rule applied to the data set,
the positions the captions need, the memory it takes, and no other network for a run that is
being continued."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from instacap import accounts, network, presets, runs, runtime
from instacap.config import ModelConfig, TrainConfig
from instacap.dataset import Dataset
from instacap.errors import InputError

_GB = 1 << 30


def train_tokens(dataset: Dataset) -> int:
    """Characters the model learns to predict in one epoch: every training caption's tokens
    after BOS (EOS included)."""
    return int(dataset.train.lengths.sum()) - len(dataset.train)


def choose(dataset: Dataset, requested: ModelConfig | None, train: TrainConfig, path: Path,
           device: torch.device, starting_over: bool = False,
           ) -> tuple[ModelConfig, TrainConfig]:  # fmt: skip
    """The network and learning rate to train run folder `path` with.

    `requested` None: `--size auto` with the LSTM (a run being continued keeps its own network;
    trainplan restores it). A requested network that differs from the one a run began with is
    refused (unless the run is `starting_over`), and so is one that does not fit in the memory
    left."""
    tokens = train_tokens(dataset)
    if requested is not None and requested.size == "auto":  # `--arch X` without `--size`
        requested = presets.model_config("auto", presets.arch_name(requested), tokens)
    model = requested or presets.model_config("auto", "lstm", tokens)
    if requested is not None and not starting_over:
        _refuse_another_network(path, requested)
    if network.is_transformer(model) and dataset.max_len - 1 > model.context:
        model = replace(model, context=dataset.max_len - 1)  # every caption's positions
    model = replace(model, accounts=account_slots(dataset))
    train = presets.resolve(model, train)
    _check_memory(model, dataset, train, device)
    return model, train


def account_slots(dataset: Dataset) -> int:
    """The account slots a new run on `dataset` reads (accounts.py; 0 for one voice)."""
    table = accounts.for_training(dataset.train.accounts)
    return table.size if table else 0


def describe(config: ModelConfig) -> str:
    """'the base transformer' / 'the small LSTM (merge-inject)' for messages."""
    if network.is_transformer(config):
        return f"the {config.size} transformer"
    return f"the {config.size} LSTM ({config.arch})"


def _refuse_another_network(path: Path, requested: ModelConfig) -> None:
    """A run with a checkpoint continues with the network it began with, never another one."""
    if not runs.has_checkpoint(path):
        return
    saved = runs.peek_meta(path)
    # The account slots come from the data set, never from --size or --arch.
    if saved is None or replace(saved.model_config, accounts=0) == replace(requested, accounts=0):
        return
    raise InputError(
        f"Run {path.name!r} was trained with {describe(saved.model_config)}, not "
        f"{describe(requested)}; continue it without --arch/--size, or train a new run "
        "(choose another --name, or --overwrite)."
    )


def _check_memory(model: ModelConfig, dataset: Dataset, train: TrainConfig,
                  device: torch.device) -> None:  # fmt: skip
    """InputError naming the memory a training step needs when less is free."""
    width = dataset.feature_dim + model.accounts  # the photo's features, then the accounts
    need = network.training_bytes(
        model, dataset.vocab.size, width, train.batch_size, dataset.max_len
    )
    free = runtime.free_memory_bytes(device)
    if free is None or need <= free:
        return
    smaller = "a smaller --size" if model.size != "small" else "a smaller --batch-size"
    raise InputError(
        f"Training {describe(model)} needs about {need / _GB:.1f} GB at batch "
        f"{train.batch_size}, but only {free / _GB:.1f} GB are free; choose {smaller}."
    )
