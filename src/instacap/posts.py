"""The posts store: one SQLite database (WAL) plus the image files, under one root folder.

Layout: `<root>/posts.db` and `<root>/posts/<account>/<shortcode>.<ext>`. An image is written to a
temporary name, fsynced and renamed before its row is committed, so a row always points to a
complete file; a crash leaves at worst an orphan temporary file, which the next write replaces.
Adding a post whose shortcode is already stored changes nothing; `update` changes its caption or
account (moving the image to the new account's folder).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from instacap import paths
from instacap.errors import CacheError, DiskFull
from instacap.files import (
    disk_full,
    file_lock,
    is_disk_full,
    on_full_disk,
    open_wal,
    write_atomic,
    write_many_atomic,
)
from instacap.storesummary import ACCOUNTS as _ACCOUNTS
from instacap.storesummary import StoreSummary as StoreSummary
from instacap.storesummary import summarize as summarize

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    shortcode  TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    taken_at   TEXT,             -- ISO 8601, UTC
    caption    TEXT NOT NULL,
    image      TEXT NOT NULL,    -- path relative to the store root
    source     TEXT NOT NULL,    -- scrape | instaloader | instalooter | table | demo
    likes      INTEGER,
    scene      TEXT,             -- demo data only: what the photo shows
    added_at   TEXT NOT NULL,
    image_bytes INTEGER          -- size of the image file, so `status` need not stat every photo
);
CREATE INDEX IF NOT EXISTS posts_account ON posts(account, taken_at);
"""
# Stores written before image_bytes existed get the column (NULL: `status` stats those photos).
_ADD_IMAGE_BYTES = "ALTER TABLE posts ADD COLUMN image_bytes INTEGER"


@dataclass(frozen=True)
class Post:
    """One stored post: the first photo and the caption."""

    shortcode: str
    account: str
    taken_at: datetime | None
    caption: str
    image: Path  # absolute path of the image file
    source: str
    likes: int | None = None
    scene: str | None = None


class PostRow(NamedTuple):
    """A stored post as the data set needs it: lighter than `Post` (no Path, no datetime), since
    a prep of a million posts holds them all at once."""

    shortcode: str
    account: str
    caption: str
    image: str  # absolute path of the image file
    scene: str | None


@dataclass(frozen=True)
class NewPost:
    """What an importer or the scraper hands to `PostStore.add`, image bytes included."""

    shortcode: str
    account: str
    taken_at: datetime | None
    caption: str
    source: str
    image_ext: str = ".jpg"
    likes: int | None = None
    scene: str | None = None


class PostStore:
    """Open with `PostStore.open()` (the user's posts) or `PostStore.open(demo=True)`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        paths.ensure_dir(self.root / "posts")
        self.db_path = self.root / "posts.db"
        try:
            # Switching a new database to WAL fails at once with "database is locked" (no busy
            # wait) while another process does the same, so opening is serialised by a lock file.
            with file_lock(self.root / ".posts.lock"):
                self._db = open_wal(self.db_path, SCHEMA, timeout=30)
                columns = {r[1] for r in self._db.execute("PRAGMA table_info(posts)")}
                if "image_bytes" not in columns:
                    self._db.execute(_ADD_IMAGE_BYTES)
        except sqlite3.DatabaseError as exc:
            if is_disk_full(exc, self.root):
                raise disk_full(self.root) from exc
            raise CacheError(
                f"The posts database {self.db_path} cannot be opened ({exc}); "
                "move it aside and re-import or re-scrape."
            ) from exc

    @classmethod
    def open(cls, demo: bool = False) -> PostStore:
        return cls(paths.posts_root(demo))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PostStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def add(self, post: NewPost, image: bytes | Path) -> bool:
        """Store `post` with its image (bytes, or a file to copy). False when already stored."""
        paths.validate_account(post.account)
        if self.has(post.shortcode):
            return False
        rel = _rel_path(post)
        data = _bytes_of(image)
        write_atomic(self.root / rel, data)
        try:
            with on_full_disk(self.root):
                # INSERT OR IGNORE: a second process may have stored the same post meanwhile.
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO posts VALUES (?,?,?,?,?,?,?,?,?,?)",
                    _row(post, rel.as_posix(), _iso(datetime.now(timezone.utc)), len(data)),
                )
        except DiskFull:
            if not self.has(post.shortcode):  # no row points to the photo: leave no orphan
                (self.root / rel).unlink(missing_ok=True)
            raise
        return cur.rowcount == 1

    def add_many(self, items: Sequence[tuple[NewPost, bytes | Path]]) -> list[str]:
        """`add` for a batch: the photos are written with one flush to disk, then all rows are
        committed in one transaction (a crash keeps all of the batch or none of its rows).
        Returns the shortcodes stored by this call; those already stored are left alone."""
        for post, _ in items:
            paths.validate_account(post.account)
        known = self.known([p.shortcode for p, _ in items])
        todo: dict[str, tuple[NewPost, str, bytes]] = {}
        for post, image in items:
            if post.shortcode not in known and post.shortcode not in todo:
                todo[post.shortcode] = (post, _rel_path(post).as_posix(), _bytes_of(image))
        if not todo:
            return []
        write_many_atomic([(self.root / rel, data) for _, rel, data in todo.values()])
        now = _iso(datetime.now(timezone.utc))
        rows = [_row(p, rel, now, len(data)) for p, rel, data in todo.values()]
        try:
            with on_full_disk(self.root), self._db:
                self._db.execute("BEGIN IMMEDIATE")
                before = self._db.total_changes
                self._db.executemany(
                    "INSERT OR IGNORE INTO posts VALUES (?,?,?,?,?,?,?,?,?,?)", rows
                )
                inserted = self._db.total_changes - before
        except DiskFull:
            stored = self.known(list(todo))  # another writer's rows may point to some of them
            for sc, (_, rel, _) in todo.items():  # no row points to the others: no orphans
                if sc not in stored:
                    (self.root / rel).unlink(missing_ok=True)
            raise
        if inserted == len(rows):
            return list(todo)
        # Another process stored some of them meanwhile: ask which rows are this call's own.
        return [sc for sc in todo if self._added_now(sc, now)]

    def known(self, shortcodes: list[str]) -> set[str]:
        """Which of `shortcodes` are stored (one query per 500)."""
        found: set[str] = set()
        for i in range(0, len(shortcodes), 500):
            chunk = shortcodes[i : i + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT shortcode FROM posts WHERE shortcode IN ({marks})"
            found.update(r[0] for r in self._db.execute(query, chunk))
        return found

    def _added_now(self, shortcode: str, added_at: str | None) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM posts WHERE shortcode=? AND added_at=?", (shortcode, added_at)
        ).fetchone()
        return row is not None

    def update(self, post: NewPost, image: bytes | Path | None = None) -> bool:
        """Give the stored post `post.shortcode` the caption and account of `post`. False when it
        is not stored, already has them, or another writer changed it meanwhile.

        When the account changes the image moves to `posts/<account>/`: the new file is written
        first, then the row is committed, then the old file is removed, so the row never points
        to a missing or partial file. `image` is used only when the stored file is gone.
        """
        paths.validate_account(post.account)
        row = self._db.execute(
            "SELECT account, caption, image FROM posts WHERE shortcode=?", (post.shortcode,)
        ).fetchone()
        if row is None or (row[0], row[1]) == (post.account, post.caption):
            return False
        account, caption, old_rel = row
        rel = old_rel
        if post.account != account:
            rel = (Path("posts") / post.account / Path(old_rel).name).as_posix()
        old_file = self.root / old_rel
        data: bytes | None = None
        if old_file.is_file():
            data = old_file.read_bytes() if rel != old_rel else None
        elif image is not None:
            data = _bytes_of(image)  # the stored photo is gone: store the one given
        else:
            rel = old_rel  # nothing to move: the row keeps pointing where it did
        if data is not None:
            write_atomic(self.root / rel, data)
        size = len(data) if data is not None else None
        try:
            with on_full_disk(self.root):
                # Only if the row is still what was read: a concurrent import may have changed it.
                cur = self._db.execute(
                    "UPDATE posts SET account=?, caption=?, image=?, "
                    "image_bytes=COALESCE(?, image_bytes) "
                    "WHERE shortcode=? AND account=? AND caption=? AND image=?",
                    (
                        post.account,
                        post.caption,
                        rel,
                        size,
                        post.shortcode,
                        account,
                        caption,
                        old_rel,
                    ),
                )
        except DiskFull:
            if rel != old_rel:
                self._remove_unused(rel)  # the row still points to the old photo
            raise
        done = cur.rowcount == 1
        if rel != old_rel:
            self._remove_unused(old_rel if done else rel)
        return done

    def remove(self, shortcodes: Iterable[str]) -> None:
        """Delete these posts and then their photos (the rows go first, in one transaction, so no
        row ever points to a missing photo). Takes back an import the disk could not hold."""
        wanted = list(shortcodes)
        rels: list[str] = []
        with self._db:  # commits, or rolls back on an error
            self._db.execute("BEGIN IMMEDIATE")
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rels += [
                    r[0]
                    for r in self._db.execute(
                        f"SELECT image FROM posts WHERE shortcode IN ({marks})", chunk
                    )
                ]
                self._db.execute(f"DELETE FROM posts WHERE shortcode IN ({marks})", chunk)
        for rel in rels:
            self._remove_unused(rel)

    def _remove_unused(self, rel: str) -> None:
        """Delete an image file that no row points to (a moved or abandoned copy)."""
        used = self._db.execute("SELECT 1 FROM posts WHERE image=?", (rel,)).fetchone()
        if used is None:
            # Best effort: the row is committed already, and a leftover file only costs space.
            with contextlib.suppress(OSError):
                (self.root / rel).unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------------

    def get(self, shortcode: str) -> Post | None:
        """The stored post with this shortcode, or None."""
        return next(self._select("WHERE shortcode=?", (shortcode,)), None)

    def has(self, shortcode: str) -> bool:
        row = self._db.execute("SELECT 1 FROM posts WHERE shortcode=?", (shortcode,)).fetchone()
        return row is not None

    def shortcodes(self, account: str | None = None) -> set[str]:
        if account is None:
            rows = self._db.execute("SELECT shortcode FROM posts")
        else:
            rows = self._db.execute("SELECT shortcode FROM posts WHERE account=?", (account,))
        return {r[0] for r in rows}

    def count(self, account: str | None = None) -> int:
        if account is None:
            row = self._db.execute("SELECT COUNT(*) FROM posts").fetchone()
        else:
            row = self._db.execute(
                "SELECT COUNT(*) FROM posts WHERE account=?", (account,)
            ).fetchone()
        return int(row[0])

    def accounts(self) -> dict[str, int]:
        """Post count per account, most posts first."""
        return {a: n for a, n in self._db.execute(_ACCOUNTS)}

    def posts(self, accounts: Iterable[str] | None = None) -> Iterator[Post]:
        """Stored posts in a stable order (account, time, shortcode), optionally some accounts only."""
        where = ""
        args: tuple[str, ...] = ()
        if accounts is not None:
            args = tuple(accounts)
            where = f"WHERE account IN ({','.join('?' * len(args))})"
        return self._select(where + " ORDER BY account, taken_at, shortcode", args)

    def rows(self, accounts: Iterable[str] | None = None) -> Iterator[PostRow]:
        """`posts` as PostRow tuples (same order); account and scene names are shared strings."""
        where, args = "", tuple(accounts or ())
        if accounts is not None:
            where = f"WHERE account IN ({','.join('?' * len(args))})"
        root = f"{self.root}{os.sep}"
        query = "SELECT shortcode, account, caption, image, scene FROM posts "
        names: dict[str, str] = {}
        for sc, account, caption, image, scene in self._db.execute(
            query + where + " ORDER BY account, taken_at, shortcode", args
        ):
            account = names.setdefault(account, account)
            scene = names.setdefault(scene, scene) if scene is not None else None
            yield PostRow(sc, account, caption, root + image.replace("/", os.sep), scene)

    def _select(self, clause: str, args: tuple[str, ...]) -> Iterator[Post]:
        query = (
            "SELECT shortcode, account, taken_at, caption, image, source, likes, scene FROM posts "
        )
        for sc, account, taken, caption, image, source, likes, scene in self._db.execute(
            query + clause, args
        ):
            yield Post(
                shortcode=sc,
                account=account,
                taken_at=datetime.fromisoformat(taken) if taken else None,
                caption=caption,
                image=self.root / image,
                source=source,
                likes=likes,
                scene=scene,
            )


def _rel_path(post: NewPost) -> Path:
    """Where a post's photo goes, relative to the store root."""
    return Path("posts") / post.account / f"{_safe_stem(post.shortcode)}{post.image_ext.lower()}"


def _row(post: NewPost, rel: str, added_at: str | None, size: int) -> tuple[object, ...]:
    """The posts row of a new post, in the table's column order."""
    return (post.shortcode, post.account, _iso(post.taken_at), post.caption, rel, post.source,
            post.likes, post.scene, added_at, size)  # fmt: skip


def _bytes_of(image: bytes | Path) -> bytes:
    return image if isinstance(image, bytes) else Path(image).read_bytes()


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat()


def _safe_stem(shortcode: str) -> str:
    # Shortcodes are URL-safe base64 already; anything else (imported ids) is reduced to that.
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in shortcode)[:80] or "post"
