"""Run folders, without torch: `runs/<name>/`, its `meta.json`, creating, clearing and loading it.

A run folder holds `model.pt` (torch state dict of the best epoch), `model.npz` (the same weights as
NumPy arrays, so captioning can start without importing torch), `last.pt` (for `--resume`),
`meta.json` and `metrics.jsonl`. Every file is written to a temporary name and renamed, so a crash
leaves the previous version, never half a file; meta.json records the weights' SHA-256 so a file
changed after training is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import time
import zipfile
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from instacap import __version__, paths
from instacap.config import ModelConfig
from instacap.errors import CheckpointError, InputError, NotReady
from instacap.files import read_json_object, sha256_of, write_atomic
from instacap.tokenizer import Vocab

if TYPE_CHECKING:  # types only: a loaded run's two kinds of network, and the data set it trains on
    from instacap.config import TrainConfig
    from instacap.dataset import Dataset
    from instacap.model import CaptionModel
    from instacap.numpy_model import NumpyModel

FORMAT = 1  # bump when meta.json or the state layout changes incompatibly
MODEL_FILE, ARRAYS_FILE, LAST_FILE = "model.pt", "model.npz", "last.pt"
META_FILE, METRICS_FILE = "meta.json", "metrics.jsonl"
HASH_KEYS = {MODEL_FILE: "model_sha256", ARRAYS_FILE: "arrays_sha256"}
PENDING_KEY = "pending_sha256"  # hashes of weights being written (see replace_model)


@dataclass(frozen=True)
class Run:
    name: str
    path: Path
    model: CaptionModel | NumpyModel  # torch (eval mode, from model.pt) or NumPy (model.npz)
    vocab: Vocab
    encoder: str
    dataset: str
    meta: dict[str, Any]


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
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # damaged: read_meta says so in one sentence when the run is used
    metrics = meta.get("metrics") if isinstance(meta, dict) else None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("epochs_done"), int):
        return True  # written by hand or by an older instacap: trust the model file
    return bool(metrics["epochs_done"] >= 1)


def has_checkpoint(path: Path) -> bool:
    """Whether `--resume` has something to continue from (last.pt)."""
    return (path / LAST_FILE).is_file()


def retrain_hint(name: str, meta: dict[str, Any] | None = None) -> str:
    """The command that starts an incomplete run again: its data set (when not 'default') and
    epochs as meta.json recorded them."""
    meta = meta or {}
    dataset, train_config = meta.get("dataset"), meta.get("train_config")
    data = dataset.get("name") if isinstance(dataset, dict) else None
    epochs = train_config.get("epochs") if isinstance(train_config, dict) else None
    extra = f" --data {data}" if isinstance(data, str) and data and data != "default" else ""
    extra += f" --epochs {epochs}" if isinstance(epochs, int) else ""
    return f"`instacap train{extra} --name {name}`"


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


def locate(name: str | None) -> tuple[str, Path, dict[str, Any], Vocab]:
    """(name, folder, meta, vocabulary) of the named run, the newest when `name` is None.

    A run without a model yet (killed in its first epoch) is refused with the command that
    trains it, never with a message about a missing file."""
    if name is None:
        name = newest()
        if name is None:
            waiting = incomplete_names()
            if waiting:
                raise NotReady(
                    f"No trained run yet (run {waiting[-1]!r} stopped before its first epoch "
                    f"ended); train it with {retrain_hint(waiting[-1], _peek(waiting[-1]))}."
                )
            raise NotReady(
                "No trained run yet; train one with `instacap train` (or try `instacap demo`)."
            )
    path = run_dir(name)
    if not path.is_dir():
        known = ", ".join(run_names()) or "none yet"
        raise NotReady(
            f"There is no run named {name!r} (runs: {known}); train it with `instacap train --name {name}`."
        )
    if not is_trained(path):
        raise NotReady(
            f"Run {name!r} has no trained model yet (it stopped before its first epoch ended); "
            f"train it with {retrain_hint(name, _peek(name))}."
        )
    meta = read_meta(path)
    try:
        vocab = Vocab.from_json(meta["vocab"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(
            f"{path / META_FILE} has a damaged vocabulary ({exc}); train the run again."
        ) from exc
    return name, path, meta, vocab


def _peek(name: str) -> dict[str, Any]:
    """meta.json of a run as far as it can be read, {} otherwise (for hints only)."""
    return peek_meta(run_dir(name))


def peek_meta(path: Path) -> dict[str, Any]:
    """meta.json of the run folder `path` as far as it can be read, {} otherwise (for hints and
    `status`; `read_meta` is the checked reader)."""
    return read_json_object(path / META_FILE)


def make_run(
    name: str, path: Path, model: CaptionModel | NumpyModel, vocab: Vocab, meta: dict[str, Any]
) -> Run:
    dataset = meta.get("dataset", {})
    return Run(
        name=name,
        path=path,
        model=model,
        vocab=vocab,
        encoder=str(meta["encoder"]),
        dataset=str(dataset.get("name", "")) if isinstance(dataset, dict) else "",
        meta=meta,
    )


# -- creating, overwriting and removing -------------------------------------------------------
def new_meta(name: str, dataset: Dataset, model_config: ModelConfig, train_config: TrainConfig,
             preset: str) -> dict[str, Any]:  # fmt: skip
    """meta.json of a run about to train its first epoch: what it is trained on and how."""
    return {
        "format": FORMAT,
        "instacap_version": __version__,
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "preset": preset,
        "model_config": asdict(model_config),
        "train_config": asdict(train_config),
        "encoder": dataset.encoder,
        # A `prep --weights FILE` data set: captions must be encoded with the same weights.
        "encoder_weights": dataset.info.get("weights"),
        # The features the run learned from, as prep recorded them: `caption` checks that the
        # encoder it opens gives the same (a --weights file changed since would not).
        "encoder_key": dataset.info.get("encoder_key"),
        "encoder_weights_sha256": dataset.info.get("weights_sha256"),
        "feature_dim": int(dataset.feature_dim),
        "vocab": dataset.vocab.to_json(),
        "dataset": {
            "name": dataset.name,
            "fingerprint": dataset.fingerprint,
            "max_len": int(dataset.max_len),
            "train": len(dataset.train),
            "val": len(dataset.val),
        },
        "metrics": {"epochs_done": 0},
    }


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    write_json(path / META_FILE, meta)


def clear(path: Path) -> None:
    """Remove a run's files so it starts over (`--overwrite`, or leftovers without meta.json)."""
    for stale in (MODEL_FILE, ARRAYS_FILE, LAST_FILE, META_FILE, METRICS_FILE):
        (path / stale).unlink(missing_ok=True)


def discard(path: Path) -> None:
    """Remove a run folder that holds nothing worth keeping (a new run the disk could not hold)."""
    shutil.rmtree(path, ignore_errors=True)


def check_encoder(name: str, meta: dict[str, Any], encoder: Any) -> None:
    """Refuse an encoder (`encoders.Encoder`) whose features differ from the ones the run was
    trained on, as meta.json recorded them from prep (runs from before that record pass)."""
    key, sha = meta.get("encoder_key"), meta.get("encoder_weights_sha256")
    got_sha = getattr(encoder, "weights_sha256", None)
    if (isinstance(key, str) and encoder.key != key) or (
        isinstance(sha, str) and isinstance(got_sha, str) and got_sha != sha
    ):
        weights = meta.get("encoder_weights")
        where = f"the weights file {weights} changed since" if weights else "its weights differ"
        raise CheckpointError(
            f"Run {name!r} was trained on {key or meta.get('encoder')} features, but {where} "
            f"(the encoder opens as {encoder.key}); restore that file or prep and train again."
        )


# -- files ------------------------------------------------------------------------------------
def read_checked(path: Path, expect_sha256: str | Collection[str] | None) -> bytes:
    """The bytes of a weights file, refused when they differ from the hash meta.json recorded
    (`expect_sha256` may list several accepted hashes: see `accepted_hashes`)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; train the run again.") from None
    accepted = {expect_sha256} if isinstance(expect_sha256, str) else expect_sha256
    if accepted is not None and hashlib.sha256(data).hexdigest() not in accepted:
        raise CheckpointError(
            f"{path} does not match the checksum in meta.json (changed or damaged after training); "
            "train the run again."
        )
    return data


def accepted_hashes(meta: dict[str, Any], key: str) -> set[str] | None:
    """Hashes meta.json accepts for a weights file (`key`: model_sha256 or arrays_sha256): the
    recorded one and, after a kill while a better epoch was being saved, the pending one.
    None when meta.json records none (a run from before checksums)."""
    pending = meta.get(PENDING_KEY)
    found = {meta.get(key), pending.get(key) if isinstance(pending, dict) else None}
    hashes = {h for h in found if isinstance(h, str)}
    return hashes or None


def replace_model(path: Path, meta: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
    """Replace the run's weights files (name -> bytes) and return `meta` naming their hashes.

    meta.json first lists the new hashes as pending, then each file is replaced: a kill at any
    moment leaves every weights file one that meta.json accepts. The caller writes the returned
    meta.json, which drops the pending entry."""
    hashes = {HASH_KEYS[name]: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    write_json(path / META_FILE, {**meta, PENDING_KEY: hashes})
    for name, data in files.items():
        write_atomic(path / name, data)
    return {**{k: v for k, v in meta.items() if k != PENDING_KEY}, **hashes}


def settle_pending(path: Path) -> dict[str, Any]:
    """meta.json of a run whose save of a better epoch was cut short (see `replace_model`), with
    the pending hashes of the files that were written promoted and the entry dropped."""
    meta = read_meta(path)
    pending = meta.pop(PENDING_KEY, None)
    if isinstance(pending, dict):
        for name, key in HASH_KEYS.items():
            want = pending.get(key)
            if isinstance(want, str) and (path / name).is_file() and sha256_of(path / name) == want:
                meta[key] = want
    return meta


def arrays_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """float32 arrays as the bytes of an .npz (model.npz)."""
    buf = io.BytesIO()
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub mistypes **kwds
    return buf.getvalue()


def load_arrays(path: Path, expect_sha256: str | Collection[str] | None) -> dict[str, np.ndarray]:
    """Arrays saved by `save_arrays`; pickled objects are refused, never run."""
    data = read_checked(path, expect_sha256)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as exc:  # numpy's answer to an object array with allow_pickle=False
        raise CheckpointError(
            f"{path} holds something other than model weights and was refused without running it; "
            "only use runs written by instacap."
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointError(
            f"{path} is truncated or damaged ({exc}); train the run again."
        ) from exc


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


def model_config_from(meta: dict[str, Any]) -> ModelConfig:
    known = {f.name for f in fields(ModelConfig)}
    raw = meta["model_config"]
    if not isinstance(raw, dict):
        raise CheckpointError("meta.json has an unreadable model_config; train the run again.")
    return ModelConfig(**{k: v for k, v in raw.items() if k in known})


def check_compatible(meta: dict[str, Any], dataset: Dataset) -> None:
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
