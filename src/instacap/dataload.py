"""A built data set as `dataset.build` wrote it to `datasets/<name>/` (the files are described
there): `Split` and `Dataset`, read back by `load` with the features memory-mapped, and
`read_info`, the forgiving reader for `instacap status`.
"""

from __future__ import annotations

import functools
import json
import os
import weakref
from collections.abc import Callable
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
# dataset.json's list of account names that <part>_accounts.npy numbers posts by (absent in data
# sets built before it: then the accounts come from <part>.json).
ACCOUNT_NAMES = "account_names"


class Posts:
    """The posts of a split (shortcode, account, caption, image, scene), read from `<part>.json`
    on first use: training never needs them beyond one caption, and at a million posts parsing
    them would take most of the training's startup and half a gigabyte."""

    def __init__(self, read: Callable[[], list[dict[str, Any]]]) -> None:
        self._read = read
        self._records: list[dict[str, Any]] | None = None
        self._columns: dict[str, list[Any]] = {}
        self._makers: dict[str, Callable[[], list[Any]]] = {}

    @classmethod
    def from_columns(
        cls,
        shortcodes: list[str],
        accounts: list[str],
        captions: list[str],
        images: list[Path],
        scenes: list[str | None],
    ) -> Posts:
        """Posts given column by column (a pool gathered from several splits)."""
        columns: dict[str, list[Any]] = {
            "shortcode": shortcodes,
            "account": accounts,
            "caption": captions,
            "image": [str(i) for i in images],
            "scene": scenes,
        }
        rows = zip(*columns.values(), strict=True)
        posts = cls(lambda: [dict(zip(columns, r, strict=True)) for r in rows])
        posts._columns = {**columns, "image_path": list(images)}
        return posts

    def records(self) -> list[dict[str, Any]]:
        if self._records is None:
            self._records = self._read()
        return self._records

    def column(self, key: str) -> list[Any]:
        if key not in self._columns:
            make = self._makers.get(key)
            self._columns[key] = make() if make else [r.get(key) for r in self.records()]
        return self._columns[key]

    def provide(self, key: str, make: Callable[[], list[Any]]) -> None:
        """Make column `key` with `make` (on first use) instead of parsing every record."""
        self._makers[key] = make

    def take(self, pick: list[int]) -> Posts:
        posts = Posts(lambda: [self.records()[i] for i in pick])
        for key in self._makers:
            posts.provide(key, functools.partial(self._picked, key, pick))
        return posts

    def _picked(self, key: str, pick: list[int]) -> list[Any]:
        column = self.column(key)
        return [column[i] for i in pick]


class Split:
    """One split of a data set: token ids, lengths, feature rows (arrays, in memory) and the
    posts' text (`posts`, read on first use). Built from a data set's files by `load`, or from
    columns given here (`shortcodes=`, `accounts=`, ... instead of `posts=`)."""

    def __init__(
        self,
        ids: np.ndarray,  # [N, max_len] int16/int32 as stored (int64 before): BOS ... EOS, PAD(0)
        lengths: np.ndarray,  # [N] tokens incl. BOS and EOS
        feature_rows: np.ndarray,  # [N] int64 rows into `matrix`
        matrix: np.ndarray,  # [R, D] float16, memory-mapped (shared by both splits); D = 0: "none"
        posts: Posts | None = None,
        *,
        shortcodes: list[str] | None = None,
        accounts: list[str] | None = None,
        captions: list[str] | None = None,
        images: list[Path] | None = None,
        scenes: list[str | None] | None = None,
    ) -> None:
        self.ids, self.lengths, self.feature_rows, self.matrix = ids, lengths, feature_rows, matrix
        if posts is None:
            n = len(lengths)
            posts = Posts.from_columns(
                shortcodes or [""] * n,
                accounts or [""] * n,
                captions or [""] * n,
                images or [Path()] * n,
                scenes or [None] * n,
            )
        self.posts = posts

    @property
    def shortcodes(self) -> list[str]:
        return self.posts.column("shortcode")

    @property
    def accounts(self) -> list[str]:
        return self.posts.column("account")

    @property
    def captions(self) -> list[str]:
        return self.posts.column("caption")

    @property
    def images(self) -> list[Path]:
        if "image_path" not in self.posts._columns:
            self.posts._columns["image_path"] = [Path(p) for p in self.posts.column("image")]
        return self.posts._columns["image_path"]

    @property
    def scenes(self) -> list[str | None]:
        return self.posts.column("scene")

    def features(self, idx: np.ndarray) -> np.ndarray:
        """Image features of posts `idx`: [len(idx), D] float32."""
        rows = self.feature_rows[np.asarray(idx, dtype=np.int64)]
        return np.asarray(self.matrix[rows], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, idx: np.ndarray) -> Split:
        """Posts `idx` of this split, in that order (the feature matrix is shared, not copied)."""
        return Split(
            ids=self.ids[idx],
            lengths=self.lengths[idx],
            feature_rows=self.feature_rows[idx],
            matrix=self.matrix,
            posts=self.posts.take([int(i) for i in idx]),
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
        names = info.get(ACCOUNT_NAMES)
        splits = {part: _load_split(folder, part, matrix, dim, names) for part in ("train", "val")}
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


def _load_split(
    folder: Path, part: str, matrix: np.ndarray, dim: int, account_names: list[str] | None
) -> Split:
    ids = np.load(folder / f"{part}_ids.npy", allow_pickle=False)
    if ids.dtype.kind not in "iu" or ids.ndim != 2:
        raise ValueError(f"{part}_ids.npy holds no token ids")
    rows = np.load(folder / f"{part}_rows.npy", allow_pickle=False).astype(np.int64)
    if len(rows) != len(ids):
        raise ValueError(f"{part} arrays disagree in length")
    if dim == 0:  # encoder "none": every post points at one empty row
        matrix = np.zeros((1, 0), np.float16)
        rows = np.zeros(len(ids), np.int64)
    elif len(rows) and int(rows.max()) >= len(matrix):
        raise ValueError(f"{part} points past the feature matrix")
    posts = _posts_of(folder / f"{part}.json", len(ids))
    if account_names is not None:
        numbers = np.load(folder / f"{part}_accounts.npy", allow_pickle=False)
        if len(numbers) != len(ids) or (len(numbers) and int(numbers.max()) >= len(account_names)):
            raise ValueError(f"{part}_accounts.npy disagrees with the token ids")
        names = np.array(account_names, dtype=object)
        posts.provide("account", lambda: names[numbers].tolist())  # [N] shared strings
    return Split(
        ids=ids,
        lengths=(ids != PAD).sum(1, dtype=np.int64),
        feature_rows=rows,
        matrix=matrix,
        posts=posts,
    )


def _posts_of(path: Path, n: int) -> Posts:
    """The split's posts, parsed on first use but as they were when the data set was loaded:
    the file stays open (a prep that replaces it meanwhile leaves this copy readable). Where an
    open file cannot be replaced (Windows) they are read at once instead."""

    def parse(data: bytes) -> list[dict[str, Any]]:
        posts = json.loads(data)
        if not isinstance(posts, list) or len(posts) != n:
            raise CacheError(f"{path} disagrees with its token ids; run `instacap prep` again.")
        return posts

    if os.name != "posix":
        records = parse(path.read_bytes())
        return Posts(lambda: records)
    fd = os.open(path, os.O_RDONLY)

    def read() -> list[dict[str, Any]]:
        try:
            with os.fdopen(os.dup(fd), "rb") as fh:
                fh.seek(0)
                return parse(fh.read())
        finally:
            close()

    posts = Posts(read)
    close = weakref.finalize(posts, os.close, fd)  # also when never read
    return posts
