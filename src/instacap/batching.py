"""The batches `training.fit` learns from: a split as tensors (`Tensors`, features read into memory
once when they fit) and each epoch's batches, drawn from buckets of similar length
(`epoch_batches`), a pure function of the seed and epoch so that resuming replays them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from instacap.accounts import Slots, condition, for_training

_BUCKET_SPAN = 50  # batches per length bucket: enough mixing, little padding
_PRELOAD_BYTES = 1 << 30  # image features (float16) smaller than this are read into memory once


class Tensors:
    """A split as tensors: ids [N, L], lengths [N], image features read once when they fit.
    With account `table` and each post's slot [N] (accounts.py), the features carry the
    account's one-hot after the image's."""

    def __init__(self, split: Any, table: Slots | None = None, slots: Any = None) -> None:
        self.split, self.table, self.slots = split, table, slots
        # [N, L] as stored (int16 for most vocabularies): made int64 a batch at a time, so a
        # million posts do not cost 1.2 GB and a second of copying at start-up.
        self.ids = torch.from_numpy(np.ascontiguousarray(split.ids))
        self.lengths = np.asarray(split.lengths, dtype=np.int64)  # [N]
        n = len(self.lengths)
        dim = split.matrix.shape[1] if split.matrix.ndim == 2 else 0
        # The image features, read once when they fit: float16 as stored (made float32 and
        # given their account a batch at a time), so a million posts cost half the memory and
        # no second of converting at start-up.
        self.images: np.ndarray | None = None
        if n * dim * 2 <= _PRELOAD_BYTES:
            self.images = np.asarray(split.matrix[split.feature_rows])  # [N, D] float16

    def _features(self, idx: np.ndarray) -> np.ndarray:
        slots = None if self.slots is None else self.slots[idx]
        if self.images is not None:
            images = self.images[idx].astype(np.float32)  # [B, D]
        else:
            images = self.split.features(idx)
        return condition(images, self.table, slots if slots is not None else 0)

    def feats_of(self, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self._features(idx))  # [B, D (+ A)] float32

    def batch(
        self, idx: np.ndarray, trim: bool, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids = self.ids[torch.from_numpy(idx)].long()  # [B, L]
        if trim:
            ids = ids[:, : int(self.lengths[idx].max())]  # [B, T+1]: no all-padding columns
        feats = self.feats_of(idx)
        if device.type == "cuda":  # page-locked copies: the transfer overlaps the GPU's work
            feats, ids = feats.pin_memory(), ids.pin_memory()
        feats, ids = feats.to(device, non_blocking=True), ids.to(device, non_blocking=True)
        return feats, ids[:, :-1], ids[:, 1:]  # [B, D], [B, T], [B, T]


def split_tensors(dataset: Any, seed: int) -> tuple[Tensors, Tensors]:
    """The training and validation splits of a data set as tensors, with account slots when the
    run conditions on accounts (accounts.py; some training posts carry "any")."""
    table = for_training(dataset.train.accounts)
    slots = table.training_slots(dataset.train.accounts, seed) if table else None
    val_slots = table.index(dataset.val.accounts) if table else None
    return Tensors(dataset.train, table, slots), Tensors(dataset.val, table, val_slots)


def epoch_batches(
    lengths: np.ndarray, batch_size: int, bucket: bool, seed: int, epoch: int
) -> list[np.ndarray]:
    """The batches of one epoch, a pure function of (seed, epoch) so resuming replays them.

    With `bucket`, each span of `_BUCKET_SPAN` batches is sorted by length before it is cut, so
    a batch holds captions of similar length; the batch order is shuffled again afterwards.
    """
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths))
    if not bucket:
        return [perm[i : i + batch_size] for i in range(0, len(perm), batch_size)]
    span = batch_size * _BUCKET_SPAN
    batches = []
    for s in range(0, len(perm), span):
        part = perm[s : s + span]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
