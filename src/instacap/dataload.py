"""A built data set as `dataset.build` wrote it to `datasets/<name>/` (the files are described
there): `Split` and `Dataset`, read back by `load` with the features memory-mapped, and
`read_info`, the forgiving reader for `instacap status`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from instacap import paths
from instacap.config import PrepConfig
from instacap.errors import CacheError, NotReady
from instacap.files import read_json_object
from instacap.tokenizer import PAD, Vocab

FORMAT = "instacap-dataset/1"
DATASET_FILE = "dataset.json"


@dataclass(frozen=True)
class Split:
    ids: np.ndarray  # [N, max_len] int64: BOS tok... EOS then PAD(0)
    lengths: np.ndarray  # [N] tokens incl. BOS and EOS
    feature_rows: np.ndarray  # [N] int64 rows into `matrix`
    matrix: np.ndarray  # [R, D] float16, memory-mapped (shared by both splits); D = 0 for "none"
    shortcodes: list[str]
    accounts: list[str]
    captions: list[str]
    images: list[Path]
    scenes: list[str | None]

    def features(self, idx: np.ndarray) -> np.ndarray:
        """Image features of posts `idx`: [len(idx), D] float32."""
        rows = self.feature_rows[np.asarray(idx, dtype=np.int64)]
        return np.asarray(self.matrix[rows], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.shortcodes)

    def take(self, idx: np.ndarray) -> Split:
        """Posts `idx` of this split, in that order (the feature matrix is shared, not copied)."""
        pick = [int(i) for i in idx]
        return Split(
            ids=self.ids[idx],
            lengths=self.lengths[idx],
            feature_rows=self.feature_rows[idx],
            matrix=self.matrix,
            shortcodes=[self.shortcodes[i] for i in pick],
            accounts=[self.accounts[i] for i in pick],
            captions=[self.captions[i] for i in pick],
            images=[self.images[i] for i in pick],
            scenes=[self.scenes[i] for i in pick],
        )


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    vocab: Vocab
    encoder: str
    feature_dim: int
    max_len: int
    fingerprint: str
    config: PrepConfig
    train: Split
    val: Split
    info: dict[str, Any] = field(default_factory=dict)  # dataset.json as written


def read_info(folder: Path) -> dict[str, Any]:
    """dataset.json of the data set folder `folder` as far as it can be read, {} otherwise (for
    `status`; `load` is the checked reader)."""
    return read_json_object(folder / DATASET_FILE)


def fingerprint_on_disk(folder: Path) -> str | None:
    try:
        return str(json.loads((folder / DATASET_FILE).read_text()).get("fingerprint"))
    except (OSError, ValueError, AttributeError):
        return None


def load(name: str = "default") -> Dataset:
    """The data set `name` as `build` wrote it; features memory-mapped, not read into RAM."""
    name = paths.validate_name(name, "data set name")
    folder = paths.datasets_dir() / name
    hint = (
        "instacap prep --demo"
        if name == "demo"
        else f"instacap prep --name {name}"
        if name != "default"
        else "instacap prep"
    )
    try:
        info = json.loads((folder / DATASET_FILE).read_text())
    except FileNotFoundError:
        raise NotReady(f"No data set {name!r} yet; run `{hint}` first.") from None
    except (OSError, ValueError) as exc:
        raise CacheError(
            f"The data set file {folder / DATASET_FILE} is damaged ({exc}); run `{hint}` again."
        ) from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise CacheError(
            f"{folder / DATASET_FILE} is from another instacap version; run `{hint}` again."
        )
    vocab = Vocab.from_json(info["vocab"])
    dim = int(info["feature_dim"])
    rows = int(info["features"]["rows"])
    from instacap.features import open_matrix

    matrix = open_matrix(paths.home() / info["features"]["dir"] / "matrix.f16", rows, dim)
    try:
        splits = {part: _load_split(folder, part, matrix, dim) for part in ("train", "val")}
    except (OSError, ValueError, KeyError) as exc:
        raise CacheError(
            f"The data set {name!r} is incomplete ({exc}); run `{hint}` again."
        ) from exc
    known = {f.name for f in fields(PrepConfig)}
    config = PrepConfig(**{k: v for k, v in info.get("config", {}).items() if k in known})
    return Dataset(
        name=name,
        path=folder,
        vocab=vocab,
        encoder=str(info["encoder"]),
        feature_dim=dim,
        max_len=int(info["max_len"]),
        fingerprint=str(info["fingerprint"]),
        config=config,
        train=splits["train"],
        val=splits["val"],
        info=info,
    )


def _load_split(folder: Path, part: str, matrix: np.ndarray, dim: int) -> Split:
    ids = np.load(folder / f"{part}_ids.npy", allow_pickle=False).astype(np.int64)
    rows = np.load(folder / f"{part}_rows.npy", allow_pickle=False).astype(np.int64)
    posts = json.loads((folder / f"{part}.json").read_text())
    if len(posts) != len(ids) or len(rows) != len(ids):
        raise ValueError(f"{part} arrays disagree in length")
    if dim == 0:  # encoder "none": every post points at one empty row
        matrix = np.zeros((1, 0), np.float16)
        rows = np.zeros(len(ids), np.int64)
    elif len(rows) and int(rows.max()) >= len(matrix):
        raise ValueError(f"{part} points past the feature matrix")
    return Split(
        ids=ids,
        lengths=(ids != PAD).sum(1).astype(np.int64),
        feature_rows=rows,
        matrix=matrix,
        shortcodes=[p["shortcode"] for p in posts],
        accounts=[p["account"] for p in posts],
        captions=[p["caption"] for p in posts],
        images=[Path(p["image"]) for p in posts],
        scenes=[p.get("scene") for p in posts],
    )
