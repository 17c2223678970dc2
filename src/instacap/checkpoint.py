"""Saving and loading runs: `runs/<name>/` with model.pt, last.pt, meta.json, metrics.jsonl.

`model.pt` is a plain `state_dict` (the best epoch by validation loss); `last.pt` adds the optimiser,
the random generators and the position in the epoch so `--resume` continues exactly. Both are read
with `torch.load(weights_only=True)`: loading a checkpoint can never run code, and a file holding
anything but tensors and plain values is refused. Every file is written to a temporary name and
renamed, so a crash leaves the previous version, never half a file.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from instacap import __version__, paths
from instacap.config import ModelConfig
from instacap.errors import CheckpointError, InputError, NotReady
from instacap.files import write_atomic
from instacap.model import CaptionModel
from instacap.tokenizer import Vocab

FORMAT = 1  # bump when meta.json or the state layout changes incompatibly
MODEL_FILE, LAST_FILE, META_FILE, METRICS_FILE = "model.pt", "last.pt", "meta.json", "metrics.jsonl"


@dataclass(frozen=True)
class Run:
    name: str
    path: Path
    model: CaptionModel  # eval mode
    vocab: Vocab
    encoder: str
    dataset: str
    meta: dict


def run_dir(name: str) -> Path:
    return paths.runs_dir() / paths.validate_name(name, "run name")


def run_names() -> list[str]:
    """Runs that have a model, oldest first by last update (the newest is the default run)."""
    root = paths.runs_dir()
    if not root.is_dir():
        return []
    found = [d for d in root.iterdir() if (d / META_FILE).is_file() and (d / MODEL_FILE).is_file()]
    return [d.name for d in sorted(found, key=lambda d: (d / META_FILE).stat().st_mtime)]


def newest() -> str | None:
    names = run_names()
    return names[-1] if names else None


# -- files ------------------------------------------------------------------------------------
def save_state(path: Path, state: dict[str, Any]) -> str:
    """torch.save `state` atomically; returns its sha256 (recorded in meta.json)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    write_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def load_state(path: Path, expect_sha256: str | None = None) -> dict[str, Any]:
    """Read a state saved by `save_state`, refusing anything that is not plain tensors/values."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; train the run again.") from None
    if expect_sha256 is not None and hashlib.sha256(data).hexdigest() != expect_sha256:
        raise CheckpointError(
            f"{path} does not match the checksum in meta.json (changed or damaged after training); "
            "train the run again."
        )
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


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode())


def write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    """metrics.jsonl, one line per finished epoch (rewritten whole so resuming never duplicates)."""
    lines = "".join(json.dumps(h, ensure_ascii=False) + "\n" for h in history)
    write_atomic(path, lines.encode())


def read_meta(run_path: Path) -> dict[str, Any]:
    """meta.json of a run, checked against this version of instacap."""
    path = run_path / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotReady(
            f"Run {run_path.name!r} has no meta.json; train it with `instacap train --name {run_path.name}`."
        ) from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is damaged ({exc}); train the run again.") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is not an instacap meta.json; train the run again.")
    saved = str(meta.get("instacap_version", "0"))
    if meta.get("format", 0) > FORMAT or _version_tuple(saved) > _version_tuple(__version__):
        raise CheckpointError(
            f"Run {run_path.name!r} was saved by instacap {saved}, newer than this instacap "
            f"{__version__}; upgrade with `pip install -U instacap`."
        )
    for key in ("model_config", "vocab", "encoder", "feature_dim"):
        if key not in meta:
            raise CheckpointError(f"{path} lacks {key!r}; train the run again.")
    return meta


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


# -- models -----------------------------------------------------------------------------------
def model_config_from(meta: dict[str, Any]) -> ModelConfig:
    known = {f.name for f in fields(ModelConfig)}
    raw = meta["model_config"]
    if not isinstance(raw, dict):
        raise CheckpointError("meta.json has an unreadable model_config; train the run again.")
    return ModelConfig(**{k: v for k, v in raw.items() if k in known})


def build_model(meta: dict[str, Any], vocab: Vocab) -> CaptionModel:
    try:
        return CaptionModel(model_config_from(meta), vocab.size, int(meta["feature_dim"]))
    except (TypeError, ValueError, InputError) as exc:
        raise CheckpointError(
            f"meta.json describes a model this instacap cannot build ({exc}); train the run again."
        ) from exc


def apply_weights(model: CaptionModel, weights: Any, path: Path) -> None:
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


def load(name: str | None = None, device: str = "cpu") -> Run:
    """The named run (the newest when None), in eval mode on `device`."""
    if name is None:
        name = newest()
        if name is None:
            raise NotReady(
                "No trained run yet; train one with `instacap train` (or try `instacap demo`)."
            )
    path = run_dir(name)
    if not path.is_dir():
        known = ", ".join(run_names()) or "none yet"
        raise NotReady(
            f"There is no run named {name!r} (runs: {known}); train it with `instacap train --name {name}`."
        )
    meta = read_meta(path)
    try:
        vocab = Vocab.from_json(meta["vocab"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(
            f"{path / META_FILE} has a damaged vocabulary ({exc}); train the run again."
        ) from exc
    model = build_model(meta, vocab)
    state = load_state(path / MODEL_FILE, meta.get("model_sha256"))
    apply_weights(model, state, path / MODEL_FILE)
    model.to(device).eval()
    return Run(
        name=name,
        path=path,
        model=model,
        vocab=vocab,
        encoder=str(meta["encoder"]),
        dataset=str(meta.get("dataset", {}).get("name", "")),
        meta=meta,
    )


def check_compatible(meta: dict[str, Any], dataset: Any) -> None:
    """Raise InputError when `dataset` (instacap.dataset.Dataset) is not what the run was trained on:
    another encoder, feature size or vocabulary."""
    run = meta.get("name", "this run")
    if meta["encoder"] != dataset.encoder or int(meta["feature_dim"]) != dataset.feature_dim:
        raise InputError(
            f"Run {run!r} was trained on {meta['encoder']!r} features but data set {dataset.name!r} "
            f"uses {dataset.encoder!r}; prep with `--encoder {meta['encoder']}` or train a new run."
        )
    if list(meta["vocab"].get("tokens", [])) != list(dataset.vocab.tokens):
        raise InputError(
            f"Run {run!r} was trained with another vocabulary than data set {dataset.name!r}; "
            "train a new run on this data set (choose another --name)."
        )
