"""What the cache holds, read without creating or changing anything: `instacap status`.

Each part is asked of the module that owns it (`posts.summarize`, `dataset.read_info`,
`runs.peek_meta`); the disk use of the small folders (features, data sets, runs) is measured
here, and a feature store's rows are counted by `features.count_rows`, read-only. Photos are never
walked: their sizes are in posts.db, so a million posts answer as fast as a hundred.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from instacap import dataset, features, paths, posts, runs
from instacap.files import read_json_object
from instacap.posts import StoreSummary


@dataclass(frozen=True)
class FeatureSummary:
    encoder: str  # the encoder key: the folder name under features/
    rows: int | None
    dim: int | None
    weights_sha256: str | None
    disk_bytes: int


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    encoder: str | None
    weights_sha256: str | None
    store: str | None
    train: int | None
    val: int | None
    vocab_size: int | None
    built_at: str | None
    disk_bytes: int


@dataclass(frozen=True)
class RunSummary:
    name: str
    state: str  # "trained", or "incomplete": stopped before its first epoch ended, no model yet
    retrain: str | None  # the command that starts an incomplete run again
    encoder: str | None
    dataset: str | None
    epochs_done: int | None
    epochs: int | None
    best_val_bpc: float | None
    created: str | None
    disk_bytes: int


@dataclass(frozen=True)
class CacheStatus:
    cache: Path
    exists: bool
    disk_bytes: int
    posts: StoreSummary
    demo: StoreSummary
    features: list[FeatureSummary]
    datasets: list[DatasetSummary]
    runs: list[RunSummary]

    def to_json(self) -> dict[str, Any]:
        """The `status --json` schema."""
        return {
            "cache": str(self.cache),
            "exists": self.exists,
            "disk_bytes": self.disk_bytes,
            "posts": _store_json(self.posts),
            "demo": _store_json(self.demo),
            "features": [asdict(f) for f in self.features],
            "datasets": [asdict(d) for d in self.datasets],
            "runs": [asdict(r) for r in self.runs],
        }


def _store_json(store: StoreSummary) -> dict[str, Any]:
    return {
        "path": str(store.root),
        "total": store.total,
        "accounts": store.accounts,
        "disk_bytes": store.disk_bytes,
        "readable": store.readable,
    }


def cache_status() -> CacheStatus:
    """Everything `status` shows."""
    home = paths.home()
    own, demo = posts.summarize(paths.posts_root(False)), posts.summarize(paths.posts_root(True))
    stores = [_feature_summary(d) for d in _subdirs(paths.features_dir())]
    datasets = [_dataset_summary(d) for d in _subdirs(paths.datasets_dir())]
    run_list = [_run_summary(d) for d in _subdirs(paths.runs_dir())]
    # Last: reading a WAL database may add its -shm/-wal files, which belong in the total. The
    # photo folders are skipped in the walk: their sizes come from the stores' databases.
    photos = {own.root / "posts", demo.root / "posts"}
    total = _du(home, skip=photos) + own.photo_bytes + demo.photo_bytes
    return CacheStatus(home, home.is_dir(), total, own, demo, stores, datasets, run_list)


def _subdirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _du(path: Path, skip: Collection[Path] = ()) -> int:
    """Bytes of the files under `path`, not following links, leaving out the folders in `skip`."""
    total = 0
    stack = [path]
    while stack:
        folder = stack.pop()
        # A file may vanish meanwhile (another process): not worth failing a summary.
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        if Path(entry.path) not in skip:
                            stack.append(Path(entry.path))
                    else:
                        total += entry.stat(follow_symlinks=False).st_size
    return total


def _feature_summary(folder: Path) -> FeatureSummary:
    meta = read_json_object(folder / "meta.json")
    rows = features.count_rows(folder)
    if rows is None and isinstance(meta.get("rows"), int):
        rows = meta["rows"]
    return FeatureSummary(
        encoder=folder.name,
        rows=rows,
        dim=meta.get("dim"),
        weights_sha256=meta.get("weights_sha256"),
        disk_bytes=_du(folder),
    )


def _dataset_summary(folder: Path) -> DatasetSummary:
    info = dataset.read_info(folder)
    return DatasetSummary(
        name=folder.name,
        encoder=info.get("encoder"),
        weights_sha256=info.get("weights_sha256"),
        store=info.get("store"),
        train=info.get("train"),
        val=info.get("val"),
        vocab_size=info.get("vocab_size"),
        built_at=info.get("built_at"),
        disk_bytes=_du(folder),
    )


def _run_summary(folder: Path) -> RunSummary:
    meta = runs.peek_meta(folder)  # None when meta.json is missing or damaged
    trained = runs.is_trained(folder)
    return RunSummary(
        name=folder.name,
        state="trained" if trained else "incomplete",
        retrain=None if trained else runs.retrain_hint(folder.name, meta),
        encoder=meta.encoder if meta else None,
        dataset=meta.dataset.name if meta else None,
        epochs_done=meta.metrics.epochs_done if meta else None,
        epochs=meta.train_config.epochs if meta else None,
        best_val_bpc=meta.metrics.best_val_bpc if meta else None,
        created=meta.created if meta else None,
        disk_bytes=_du(folder),
    )
