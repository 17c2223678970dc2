"""The feature store: image features computed once, kept forever, indexed by image content.

Per encoder key, `features/<key>/` holds
- `matrix.f16`: an append-only float16 matrix [rows, dim], raw row-major (memory-mappable);
- `index.db`:   SQLite, `rows(hash -> row)` with `hash` = sha256 of the image file's bytes,
                `bad(hash -> reason)` for images that cannot be decoded (not retried),
                `files(path, size, mtime -> hash)` so unchanged files are not re-hashed;
- `meta.json`:  encoder name, dim, precision;
- `lock`:       taken while appending, so two processes never interleave rows.

A row is recorded in `index.db` only after its data is flushed and fsynced to `matrix.f16`. A crash
in between leaves unrecorded bytes at the end of the matrix; the next writer cuts them off before
appending. So an interrupted prep keeps every finished batch and never records an unfinished one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from instacap import paths
from instacap.decoding import decoded
from instacap.encoders import Encoder
from instacap.errors import CacheError
from instacap.files import (
    crash_point,
    disk_full,
    file_lock,
    is_disk_full,
    on_full_disk,
    open_wal,
    sha256_of,
    write_atomic,
)
from instacap.progress import SILENT, Reporter

SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (hash TEXT PRIMARY KEY, row INTEGER NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS bad (hash TEXT PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL
);
"""


@dataclass
class Result:
    """What `compute` did: row per input file (None = skipped), counts and skip reasons."""

    rows: list[int | None]
    computed: int = 0
    reused: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


class FeatureStore:
    """Open with `FeatureStore.open(encoder)`; reading needs no lock, appending takes one."""

    def __init__(self, root: Path, dim: int, meta: dict[str, Any] | None = None) -> None:
        self.root = paths.ensure_dir(Path(root))
        self.dim = dim
        self.matrix_path = self.root / "matrix.f16"
        self._lock_path = self.root / "lock"
        meta_path = self.root / "meta.json"
        if meta_path.exists():
            try:
                old = json.loads(meta_path.read_text())
            except ValueError:
                old = {}
            if old.get("dim", dim) != dim:
                raise CacheError(
                    f"The feature store {self.root} holds {old.get('dim')}-d features, not {dim}-d; "
                    "delete that folder and rerun `instacap prep`."
                )
        elif meta is not None:
            write_atomic(meta_path, json.dumps({"dim": dim, **meta}, indent=2).encode())
        try:
            self._db = open_wal(self.root / "index.db", SCHEMA, timeout=60)
        except sqlite3.DatabaseError as exc:
            if is_disk_full(exc, self.root):
                raise disk_full(self.root) from exc
            raise CacheError(
                f"The feature index {self.root / 'index.db'} is damaged ({exc}); "
                "delete the folder and rerun `instacap prep`."
            ) from exc

    @classmethod
    def open(cls, encoder: Encoder) -> FeatureStore:
        return cls(paths.features_dir() / encoder.key, encoder.dim, encoder.info())

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    def count(self) -> int:
        """Recorded rows (the matrix file may be longer after a crash; those bytes do not count)."""
        return int(self._db.execute("SELECT COUNT(*) FROM rows").fetchone()[0])

    def lookup(self, hashes: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(list(hashes), 500):
            q = f"SELECT hash, row FROM rows WHERE hash IN ({','.join('?' * len(chunk))})"
            found.update(dict(self._db.execute(q, chunk).fetchall()))
        return found

    def bad(self, hashes: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(list(hashes), 500):
            q = f"SELECT hash, reason FROM bad WHERE hash IN ({','.join('?' * len(chunk))})"
            found.update(dict(self._db.execute(q, chunk).fetchall()))
        return found

    def matrix(self, rows: int | None = None) -> np.ndarray:
        """The first `rows` recorded rows (all by default), memory-mapped read-only: [rows, dim]."""
        n = self.count() if rows is None else rows
        return open_matrix(self.matrix_path, n, self.dim)

    # -- hashing -------------------------------------------------------------------------------

    def content_hashes(self, files: Sequence[Path]) -> list[str | None]:
        """sha256 of each file's bytes (None: it cannot be read), remembered per (path, size,
        mtime) so reruns skip reading: one query finds those remembered and one transaction
        remembers the others (not two round trips per file: half of a prep's time on tiny photos)."""
        stats: list[os.stat_result | None] = []
        for f in files:
            try:
                stats.append(f.stat())
            except OSError:
                stats.append(None)
        names = [str(f) for f in files]
        marks = ",".join("?" * len(names))
        known = {
            (p, size, mtime): h
            for p, size, mtime, h in self._db.execute(
                f"SELECT path, size, mtime_ns, hash FROM files WHERE path IN ({marks})", names
            )
        }
        out: list[str | None] = []
        new: list[tuple[str, int, int, str]] = []
        for f, name, st in zip(files, names, stats, strict=True):
            digest = None if st is None else known.get((name, st.st_size, st.st_mtime_ns))
            if st is not None and digest is None:
                try:
                    digest = sha256_of(f)
                    new.append((name, st.st_size, st.st_mtime_ns, digest))
                except OSError:
                    pass
            out.append(digest)
        if new:
            with on_full_disk(self.root), self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", new)
        return out

    # -- writing -------------------------------------------------------------------------------

    def append(self, hashes: Sequence[str], feats: np.ndarray) -> dict[str, int]:
        """Store features [n, dim] for `hashes`; returns hash -> row (existing rows are kept)."""
        assert feats.shape == (len(hashes), self.dim), feats.shape
        with self._locked():
            known = self.lookup(hashes)
            seen: set[str] = set()  # the same photo twice in one block is stored once
            keep = [i for i, h in enumerate(hashes) if h not in known and not _seen_before(h, seen)]
            if keep:
                start = self.count()
                new = {hashes[i]: start + j for j, i in enumerate(keep)}
                try:
                    with on_full_disk(self.root):
                        self._write_rows(start, np.ascontiguousarray(feats[keep], dtype=np.float16))
                        self._record(new)
                except Exception:
                    # Leave the matrix as it was (a full disk must not leave a partial block);
                    # after a kill the next writer cuts the tail off instead.
                    self._cut(start)
                    raise
                known.update(new)
        return known

    def _cut(self, rows: int) -> None:
        """Truncate the matrix to `rows` rows when it is longer (bytes no index row records)."""
        size = rows * self.dim * 2
        if self.matrix_path.exists() and self.matrix_path.stat().st_size > size:
            with open(self.matrix_path, "r+b") as fh:
                fh.truncate(size)

    def mark_bad(self, digest: str, reason: str) -> None:
        with on_full_disk(self.root):
            self._db.execute("INSERT OR REPLACE INTO bad VALUES (?, ?)", (digest, reason))

    def _write_rows(self, start: int, data: np.ndarray) -> None:
        """Write rows at `start` (cutting off any unrecorded tail first), flushed to disk."""
        row_bytes = self.dim * 2
        with open(self.matrix_path, "ab") as fh:
            if fh.tell() != start * row_bytes:
                fh.truncate(start * row_bytes)  # bytes of a batch a crash kept from recording
            half = len(data) // 2
            fh.write(data[:half].tobytes())
            fh.flush()
            crash_point("features")  # half the block is on disk, none of it recorded
            fh.write(data[half:].tobytes())
            fh.flush()
            os.fsync(fh.fileno())

    def _record(self, new: dict[str, int]) -> None:
        with self._db:  # one transaction: all rows of the batch or none
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO rows VALUES (?, ?)", list(new.items()))

    def _locked(self) -> AbstractContextManager[None]:
        return file_lock(self._lock_path)


def open_matrix(path: Path, rows: int, dim: int) -> np.ndarray:
    """[rows, dim] float16 view of a matrix file; memory-mapped (a plain empty array when no rows)."""
    if rows == 0 or dim == 0:
        return np.zeros((rows, dim), np.float16)
    need = rows * dim * 2
    if not path.exists() or path.stat().st_size < need:
        raise CacheError(
            f"The feature matrix {path} is shorter than its index says; "
            "delete its folder and rerun `instacap prep`."
        )
    return np.memmap(path, dtype=np.float16, mode="r", shape=(rows, dim))


def count_rows(folder: Path) -> int | None:
    """Rows recorded in the store at `folder`, read-only: nothing is created, locked or changed.

    None when its index.db is missing or unreadable (`instacap status` shows what it can).
    """
    db = folder / "index.db"
    if not db.is_file():
        return None
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            (count,) = con.execute("SELECT COUNT(*) FROM rows").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return int(count)


# -- computing -------------------------------------------------------------------------------------


def compute(
    encoder: Encoder,
    files: Sequence[Path | str],
    batch_size: int = 32,
    workers: int | None = None,
    reporter: Reporter = SILENT,
) -> Result:
    """Features for `files` (rows in the encoder's store), computing only images not stored yet.

    Decoding runs in `workers` DataLoader processes while the encoder runs here, batch by batch;
    each finished batch is stored before the next starts, so memory does not grow with `files`.
    """
    result = Result(rows=[None] * len(files))
    if workers is None:
        workers = encoder.decode_workers()
    if encoder.dim == 0:
        result.rows = [0] * len(files)
        return result
    t0 = time.perf_counter()
    with FeatureStore.open(encoder) as store:
        digests = _hash_all(store, files, reporter)
        todo = _triage(store, digests, result)
        if todo:
            positions = list(todo.values())
            _run(
                encoder,
                store,
                [Path(files[p]) for p in positions],
                positions,
                digests,
                result,
                batch_size,
                workers,
                reporter,
            )
        # Fill rows of duplicates and of photos another process stored meanwhile.
        missing = [p for p, r in enumerate(result.rows) if r is None and digests[p]]
        if missing:
            found = store.lookup([d for p in missing if (d := digests[p])])
            for p in missing:
                result.rows[p] = found.get(digests[p] or "")
    result.seconds = time.perf_counter() - t0
    return result


def _hash_all(
    store: FeatureStore, files: Sequence[Path | str], reporter: Reporter
) -> list[str | None]:
    """The content hash of each file (None: it cannot be read), 256 files at a time."""
    reporter.start("hashing photos", total=len(files))
    digests: list[str | None] = []
    for chunk in _chunks(list(files), 256):
        digests += store.content_hashes([Path(f) for f in chunk])
        reporter.advance("hashing photos", len(chunk))
    return digests


def _triage(store: FeatureStore, digests: list[str | None], result: Result) -> dict[str, int]:
    """Fill `result` with the rows already stored and the skips (missing, known bad); return the
    photos still to compute as hash -> first position (the same photo twice is computed once)."""
    present = [d for d in digests if d]
    known, bad = store.lookup(present), store.bad(present)
    todo: dict[str, int] = {}
    for pos, d in enumerate(digests):
        if d is None:
            result.skipped["missing"] += 1
        elif d in known:
            result.rows[pos] = known[d]
            result.reused += 1
        elif d in bad:
            result.skipped[bad[d]] += 1
        else:
            todo.setdefault(d, pos)
    return todo


def _run(
    encoder: Encoder,
    store: FeatureStore,
    todo_files: list[Path],
    todo: list[int],
    digests: list[str | None],
    result: Result,
    batch_size: int,
    workers: int,
    reporter: Reporter,
) -> None:
    loader = decoded(encoder, todo_files, todo, batch_size, workers)
    task = f"{encoder.name} features"
    reporter.start(task, total=len(todo_files))
    t0 = time.perf_counter()
    done = 0
    pending: list[tuple[int, np.ndarray]] = []

    def flush(batch: list[tuple[int, np.ndarray]]) -> None:
        feats = encoder.forward(np.stack([a for _, a in batch]))  # [b, dim] float32
        rows = store.append([digests[p] or "" for p, _ in batch], feats)
        for pos, _ in batch:
            result.rows[pos] = rows[digests[pos] or ""]
        result.computed += len(batch)
        advance(len(batch))

    def advance(n: int) -> None:
        nonlocal done
        done += n
        rate = done / max(time.perf_counter() - t0, 1e-9)
        reporter.advance(task, n, img_s=round(rate, 1), skipped=sum(result.skipped.values()))

    for items in loader:
        for pos, arr, reason in items:
            if arr is None:
                result.skipped[reason] += 1
                store.mark_bad(digests[pos] or "", reason)
                advance(1)
            else:
                pending.append((pos, arr))
        while len(pending) >= batch_size:
            flush(pending[:batch_size])
            del pending[:batch_size]
    if pending:
        flush(pending)


def _seen_before(item: str, seen: set[str]) -> bool:
    """Whether `item` was asked about before (and remember it from now on)."""
    if item in seen:
        return True
    seen.add(item)
    return False


def _chunks(items: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
