"""The training data set: posts -> (image feature row, token ids), split by post, cached.

`build` reads a posts store, computes missing image features (see `instacap.features`), tokenises
the captions and writes `datasets/<name>/`:
- `dataset.json`: what it was built from (store, accounts, encoder, settings, fingerprint), counts,
  the vocabulary and skipped images; written last, so its presence means the rest is complete;
- `train_ids.npy`, `val_ids.npy`: int64 [N, max_len] token ids (BOS ... EOS, then PAD);
- `train_rows.npy`, `val_rows.npy`: int64 [N] rows of the encoder's feature matrix;
- `train.json`, `val.json`: shortcode, account, caption, image and scene of each post.
The features themselves stay in `features/<encoder>/matrix.f16` and are memory-mapped.

It is rebuilt only when its inputs change (the fingerprint: posts and captions, encoder, settings).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from instacap import encoders, paths
from instacap.config import PrepConfig
from instacap.errors import CacheError, InputError, NotReady
from instacap.files import file_lock, read_json_object, remove_temp_files, write_atomic
from instacap.posts import Post, PostStore
from instacap.progress import SILENT, Reporter
from instacap.tokenizer import EOS, PAD, UNK, Vocab, build_vocab

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
    if not force and _fingerprint_on_disk(folder) == fp:
        try:
            ds = load(name)
            ds.info["up_to_date"] = True
            return ds
        except (NotReady, CacheError):
            pass  # features or arrays gone: rebuild below

    runtime.tune_allocator()
    encoder = encoders.get(config.encoder, weights=weights, device=device, reporter=reporter)
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

    is_val = _assign(kept, config)
    train = [pr for pr, v in zip(kept, is_val, strict=True) if not v]
    val = [pr for pr, v in zip(kept, is_val, strict=True) if v]
    vocab = build_vocab((p.caption for p, _ in train), config.min_count)

    stats: Counter[str] = Counter()
    ids = {
        part: _encode(vocab, [p.caption for p, _ in items], config.max_len, stats, part)
        for part, items in (("train", train), ("val", val))
    }
    rows = 1 + max(r for _, r in kept) if encoder.dim else 0
    info = {
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
    files = {DATASET_FILE: _json(info)}
    for part, items in (("train", train), ("val", val)):
        files[f"{part}_ids.npy"] = _npy(ids[part])
        files[f"{part}_rows.npy"] = _npy(np.array([r for _, r in items], np.int64))
        files[f"{part}.json"] = _json([_post_record(p) for p, _ in items])
    _publish(folder, files)
    return load(name)


def _publish(folder: Path, files: dict[str, bytes]) -> None:
    """Replace the data set's files by `files` (name -> bytes), dataset.json last.

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
            for name, data in files.items():
                staged.append(folder / f".{name}.new")
                write_atomic(staged[-1], data)
            (folder / DATASET_FILE).unlink(missing_ok=True)  # until renamed: "not built"
            for name in sorted(files, key=lambda n: n == DATASET_FILE):
                os.replace(folder / f".{name}.new", folder / name)
    except BaseException:
        for path in staged:
            path.unlink(missing_ok=True)
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def fingerprint(posts: list[Post], encoder_key: str, config: PrepConfig) -> str:
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


def _read_posts(demo: bool, accounts: list[str] | None) -> list[Post]:
    if accounts:
        for a in accounts:
            paths.validate_account(a)
    with PostStore.open(demo=demo) as store:
        posts = list(store.posts(accounts))
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


def _assign(kept: list[tuple[Post, int]], config: PrepConfig) -> list[bool]:
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
    ids = np.full((len(captions), max_len), PAD, np.int64)  # [N, max_len]
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


def _post_record(p: Post) -> dict[str, Any]:
    return {
        "shortcode": p.shortcode,
        "account": p.account,
        "caption": p.caption,
        "image": str(p.image),
        "scene": p.scene,
    }


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1).encode()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


# -- loading ---------------------------------------------------------------------------------------


def read_info(folder: Path) -> dict[str, Any]:
    """dataset.json of the data set folder `folder` as far as it can be read, {} otherwise (for
    `status`; `load` is the checked reader)."""
    return read_json_object(folder / DATASET_FILE)


def _fingerprint_on_disk(folder: Path) -> str | None:
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
