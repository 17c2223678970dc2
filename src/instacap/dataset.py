"""The training data set: posts -> (image feature row, token ids), split by post, cached.

`build` reads a posts store, computes missing image features (see `instacap.features`), tokenises
the captions and writes `datasets/<name>/`:
- `dataset.json`: what it was built from (store, accounts, encoder, settings, fingerprint), counts,
  the vocabulary and skipped images; written last, so its presence means the rest is complete;
- `train_ids.npy`, `val_ids.npy`: int16 (int32 for a larger vocabulary) [N, max_len] token ids
  (BOS ... EOS, then PAD);
- `train_rows.npy`, `val_rows.npy`: int64 [N] rows of the encoder's feature matrix;
- `train_accounts.npy`, `val_accounts.npy`: int32 [N] each post's account, as its place in
  dataset.json's `account_names` (data sets built before these files read train.json instead);
- `train.json`, `val.json`: shortcode, account, caption, image and scene of each post.
The features themselves stay in `features/<encoder>/matrix.f16` and are memory-mapped.
Reading a built data set back (`Dataset`, `Split`, `load`, `read_info`) is `instacap.dataload`'s;
they are offered here too, so that `dataset.build` and `dataset.load` stay side by side.

It is rebuilt only when its inputs change (the fingerprint: posts and captions, encoder, settings).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from instacap import encoders, paths
from instacap.config import PrepConfig
from instacap.dataload import ACCOUNT_NAMES, DATASET_FILE, FORMAT, fingerprint_on_disk
from instacap.dataload import Dataset as Dataset
from instacap.dataload import Split as Split
from instacap.dataload import load as load
from instacap.dataload import read_info as read_info
from instacap.errors import CacheError, InputError, NotReady
from instacap.files import crash_point, file_lock, on_full_disk, remove_temp_files
from instacap.posts import PostRow, PostStore
from instacap.progress import SILENT, Reporter
from instacap.tokenizer import EOS, PAD, UNK, Vocab, build_vocab

if TYPE_CHECKING:  # pragma: no cover
    from instacap.encoders import Encoder
    from instacap.features import Result

Writer = Callable[[BinaryIO], object]  # writes one file of the data set to an open file

# -- building --------------------------------------------------------------------------------------


def build(
    config: PrepConfig,
    name: str | None = None,
    demo: bool = False,
    accounts: list[str] | None = None,
    weights: Path | None = None,
    reporter: Reporter = SILENT,
    force: bool = False,
    device: str = "cpu",
) -> Dataset:
    """Build (or reuse, when nothing changed) the data set `name` ("demo"/"default" by default)."""
    from instacap import runtime

    name = paths.validate_name(name or ("demo" if demo else "default"), "data set name")
    _check_config(config)
    posts = _read_posts(demo, accounts)
    key = encoders.key_for(config.encoder, weights)
    fp = fingerprint(posts, key, config)
    folder = paths.datasets_dir() / name
    if not force and fingerprint_on_disk(folder) == fp:
        try:
            ds = load(name)
            ds.info["up_to_date"] = True
            return ds
        except (NotReady, CacheError):
            pass  # features or arrays gone: rebuild below

    runtime.tune_allocator()
    encoder = encoders.get(config.encoder, weights=weights, device=device, reporter=reporter)
    result, kept = _features_of(posts, encoder, config, reporter)

    is_val = _assign(kept, config)
    train = [pr for pr, v in zip(kept, is_val, strict=True) if not v]
    val = [pr for pr, v in zip(kept, is_val, strict=True) if v]
    vocab = build_vocab((p.caption for p, _ in train), config.min_count)

    stats: Counter[str] = Counter()
    ids = {
        part: _encode(vocab, [p.caption for p, _ in items], config.max_len, stats, part)
        for part, items in (("train", train), ("val", val))
    }
    info = {
        **_describe(name, fp, demo, weights, encoder, kept),
        "posts": len(posts),
        "train": len(train),
        "val": len(val),
        "skipped": dict(result.skipped),
        "computed": result.computed,
        "reused": result.reused,
        "vocab_size": vocab.size,
        "max_len": config.max_len,
        "min_count": config.min_count,
        "unk_share": round(stats["unk"] / max(stats["tokens"], 1), 6),
        "truncated": stats["truncated"],
        "config": asdict(config),
        "vocab": vocab.to_json(),
    }
    _publish(folder, _files(info, {"train": train, "val": val}, ids))
    return load(name)


def compute_share(
    config: PrepConfig,
    rank: int,
    world: int,
    demo: bool = False,
    accounts: list[str] | None = None,
    weights: Path | None = None,
    reporter: Reporter = SILENT,
    device: str = "cpu",
) -> Result:
    """The features of one worker's share of the photos `build` needs (`prep --nproc`): every
    `world`-th post from the `rank`-th on, computed where missing. All workers write the one
    feature store, which takes each finished batch under its lock and records it only once it
    is on disk: a kill keeps the finished batches, and a rerun computes only what is missing.
    `build` then finds every feature stored and writes the data set (one writer)."""
    from instacap import features, runtime

    _check_config(config)
    posts = _read_posts(demo, accounts)[rank::world]
    runtime.tune_allocator()
    encoder = encoders.get(config.encoder, weights=weights, device=device, reporter=reporter)
    files = [p.image for p in posts]
    return features.compute(encoder, files, config.batch_size, config.workers, reporter)


def _features_of(
    posts: list[PostRow], encoder: Encoder, config: PrepConfig, reporter: Reporter
) -> tuple[Result, list[tuple[PostRow, int]]]:
    """The photos' feature rows (computed where missing): features.Result and (post, row) for each
    post whose photo could be read; a note for the others, NotReady when fewer than 2 are left."""
    from instacap import features

    result = features.compute(
        encoder,
        [p.image for p in posts],
        batch_size=config.batch_size,
        workers=config.workers,
        reporter=reporter,
    )
    kept = [(p, r) for p, r in zip(posts, result.rows, strict=True) if r is not None]
    if result.skipped:
        reasons = ", ".join(f"{n} {why}" for why, n in result.skipped.most_common())
        reporter.note(
            f"Skipped {_plural(sum(result.skipped.values()), 'photo')} that cannot be read "
            f"({reasons}); their posts are left out."
        )
    if len(kept) < 2:
        raise NotReady(
            f"Only {len(kept)} of {len(posts)} posts have a readable photo; at least 2 are needed "
            "to train: add posts with `instacap import` or `instacap scrape`."
        )
    return result, kept


def _describe(
    name: str,
    fp: str,
    demo: bool,
    weights: Path | None,
    encoder: Encoder,
    kept: list[tuple[PostRow, int]],
) -> dict[str, Any]:
    """dataset.json's entries on where the data set comes from: store, accounts, encoder, features."""
    rows = 1 + max(r for _, r in kept) if encoder.dim else 0
    return {
        "format": FORMAT,
        "name": name,
        "fingerprint": fp,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "store": "demo" if demo else "user",
        "accounts": dict(Counter(p.account for p, _ in kept).most_common()),
        "encoder": encoder.name,
        "encoder_key": encoder.key,
        "weights": str(Path(weights).expanduser().resolve()) if weights else None,
        "weights_sha256": encoder.weights_sha256,
        "feature_dim": encoder.dim,
        "precision": encoder.precision,
        "bf16_cosine": encoder.cosine,
        "features": {"dir": f"features/{encoder.key}", "rows": rows},
    }


def _files(
    info: dict[str, Any], parts: dict[str, list[tuple[PostRow, int]]], ids: dict[str, np.ndarray]
) -> dict[str, Writer]:
    """The data set's files, name -> what writes it: dataset.json and, per split, ids, rows and
    posts. Written straight to their files: a million posts never exist as one JSON string."""
    # Each post's account as a number (its place in `account_names`): training reads the
    # accounts at its start, and parsing <part>.json for them took seconds at a million posts.
    names = list(info["accounts"])
    where = {a: i for i, a in enumerate(names)}
    files: dict[str, Writer] = {DATASET_FILE: _bytes_writer(_json({**info, ACCOUNT_NAMES: names}))}
    for part, items in parts.items():
        files[f"{part}_ids.npy"] = _npy_writer(ids[part])
        files[f"{part}_rows.npy"] = _npy_writer(np.array([r for _, r in items], np.int64))
        accounts = np.array([where[p.account] for p, _ in items], np.int32)
        files[f"{part}_accounts.npy"] = _npy_writer(accounts)
        files[f"{part}.json"] = _records_writer([p for p, _ in items])
    return files


def _publish(folder: Path, files: dict[str, Writer]) -> None:
    """Replace the data set's files by `files` (name -> writer), dataset.json last.

    Everything is first written beside the old files under temporary names: a full disk (or any
    error) then removes those and leaves the old data set as it was, or no folder when there was
    none. Only renames, which need no space, follow. Two preps of the same data set take turns
    here: the last one's files win, never a mix.
    """
    created = not folder.exists()
    paths.ensure_dir(folder)
    staged: list[Path] = []
    try:
        with file_lock(folder / ".lock"):
            remove_temp_files(folder)  # of a prep killed while writing here
            for name, write in files.items():
                staged.append(folder / f".{name}.new")
                _write_durably(staged[-1], write)
            (folder / DATASET_FILE).unlink(missing_ok=True)  # until renamed: "not built"
            for name in sorted(files, key=lambda n: n == DATASET_FILE):
                os.replace(folder / f".{name}.new", folder / name)
    except BaseException:
        for path in staged:
            path.unlink(missing_ok=True)
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _write_durably(path: Path, write: Writer) -> None:
    """Write a staged file (a temporary name already) and flush it to disk."""
    with on_full_disk(path.parent), open(path, "wb") as fh:
        write(fh)
        fh.flush()
        crash_point(f"write:{path.name}")
        os.fsync(fh.fileno())


def _bytes_writer(data: bytes) -> Writer:
    return lambda fh: fh.write(data)


def _npy_writer(array: np.ndarray) -> Writer:
    return lambda fh: np.save(fh, array, allow_pickle=False)


def _records_writer(posts: list[PostRow]) -> Writer:
    def write(fh: BinaryIO) -> None:
        fh.write(b"[")
        for i, p in enumerate(posts):
            fh.write(b",\n" if i else b"\n")
            fh.write(json.dumps(_post_record(p), ensure_ascii=False).encode())
        fh.write(b"\n]\n")

    return write


def fingerprint(posts: list[PostRow], encoder_key: str, config: PrepConfig) -> str:
    """sha256 over what the data set depends on (not batch size or workers: they change no byte)."""
    h = hashlib.sha256()
    settings = {
        "format": FORMAT,
        "encoder": encoder_key,
        "min_count": config.min_count,
        "max_len": config.max_len,
        "val_share": config.val_share,
        "seed": config.seed,
    }
    h.update(json.dumps(settings, sort_keys=True).encode())
    for p in sorted(posts, key=lambda p: p.shortcode):
        h.update(json.dumps([p.shortcode, p.account, p.caption], ensure_ascii=False).encode())
    return h.hexdigest()


def _check_config(config: PrepConfig) -> None:
    encoders.spec(config.encoder)
    if config.max_len < 3:
        raise InputError(
            f"--max-len {config.max_len} is too short; use at least 3 (BOS, a token, EOS)."
        )
    if config.min_count < 1:
        raise InputError(f"--min-count {config.min_count} must be at least 1.")
    if not 0.0 < config.val_share < 1.0:
        raise InputError(f"--val-share {config.val_share} must be between 0 and 1 (e.g. 0.1).")
    if config.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, not {config.batch_size}.")
    if config.workers is not None and config.workers < 0:
        raise InputError(f"--workers must be 0 (decode inline) or more, not {config.workers}.")


def _read_posts(demo: bool, accounts: list[str] | None) -> list[PostRow]:
    if accounts:
        for a in accounts:
            paths.validate_account(a)
    with PostStore.open(demo=demo) as store:
        posts = list(store.rows(accounts))
        stored = store.accounts()
    if not posts and accounts:
        have = ", ".join(list(stored)[:10]) or "none"
        raise InputError(
            f"No stored posts from {', '.join(accounts)}; accounts in the store: {have}. "
            "Choose among those with --accounts, or scrape or import these accounts first."
        )
    if not posts:
        raise NotReady(
            "No posts to prepare yet; run `instacap demo` for the built-in demo data, "
            "`instacap import FOLDER` for your own, or `instacap scrape ACCOUNT`."
        )
    return posts


def _assign(kept: list[tuple[PostRow, int]], config: PrepConfig) -> list[bool]:
    """Validation or not, per post: a seeded hash of the shortcode, so adding posts moves none."""
    u = [
        int.from_bytes(hashlib.sha256(f"{config.seed}:{p.shortcode}".encode()).digest()[:8], "big")
        / 2**64
        for p, _ in kept
    ]
    is_val = [x < config.val_share for x in u]
    # Small stores: make sure both splits have a post.
    if not any(is_val):
        is_val[int(np.argmin(u))] = True
    if all(is_val):
        is_val[int(np.argmax(u))] = False
    return is_val


def _encode(
    vocab: Vocab, captions: list[str], max_len: int, stats: Counter[str], part: str
) -> np.ndarray:
    # [N, max_len]: 2 bytes a token while the vocabulary allows (a million posts: 300 MB, not 1.2 GB)
    dtype = np.int16 if vocab.size <= np.iinfo(np.int16).max else np.int32
    ids = np.full((len(captions), max_len), PAD, dtype)
    for i, caption in enumerate(captions):
        row = vocab.encode(caption, max_len)
        ids[i, : len(row)] = row
        if part == "train":
            stats["tokens"] += len(row)
            stats["unk"] += row.count(UNK)
        stats["truncated"] += len(row) == max_len and row[-1] != EOS
    return ids


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _post_record(p: PostRow) -> dict[str, Any]:
    return {
        "shortcode": p.shortcode,
        "account": p.account,
        "caption": p.caption,
        "image": p.image,
        "scene": p.scene,
    }


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1).encode()
