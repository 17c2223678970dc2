"""The torch side of a run's files: `model.pt` and `last.pt` (imported only where torch is needed,
so `instacap caption` on the CPU never loads it).

`model.pt` is a plain `state_dict` (the best epoch by validation loss); `last.pt` adds the optimiser,
the random generators and the position in the epoch so `--resume` continues exactly. Both are read
with `torch.load(weights_only=True)`: loading a checkpoint can never run code, and a file holding
anything but tensors and plain values is refused.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch
from torch import nn

from instacap.errors import CheckpointError
from instacap.files import write_atomic
from instacap.runs.weights import ARRAYS_FILE, MODEL_FILE, arrays_bytes, read_checked


def save_state(path: Path, state: dict[str, Any]) -> str:
    """torch.save `state` atomically; returns its sha256."""
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    write_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def model_files(model: nn.Module) -> dict[str, bytes]:
    """The bytes of model.pt and model.npz for `model` (weights.replace_model writes them)."""
    weights = model.state_dict()
    arrays = {k: v.detach().float().cpu().numpy() for k, v in weights.items()}
    buf = io.BytesIO()
    torch.save(weights, buf)
    return {MODEL_FILE: buf.getvalue(), ARRAYS_FILE: arrays_bytes(arrays)}


def load_state(path: Path, expect_sha256: Collection[str] | None = None) -> dict[str, Any]:
    """Read a state saved by `save_state`, refusing anything that is not plain tensors/values."""
    data = read_checked(path, expect_sha256)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} holds something other than model weights and was refused without running it; "
            "only use checkpoints written by instacap."
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is truncated or damaged ({exc}); train the run again."
        ) from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not an instacap checkpoint; train the run again.")
    return state


def apply_weights(model: nn.Module, weights: Any, path: Path) -> None:
    """Load a state_dict whose names and shapes must match the model exactly."""
    if not isinstance(weights, dict) or not all(
        isinstance(v, torch.Tensor) for v in weights.values()
    ):
        raise CheckpointError(f"{path} does not hold model weights; train the run again.")
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path} does not fit the model described in meta.json (tampered, or from another run); "
            "train the run again."
        ) from exc
