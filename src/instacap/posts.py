"""The posts store: one SQLite database (WAL) plus the image files, under one root folder.

Layout: `<root>/posts.db` and `<root>/posts/<account>/<shortcode>.<ext>`. An image is written to a
temporary name, fsynced and renamed before its row is committed, so a row always points to a
complete file; a crash leaves at worst an orphan temporary file, which the next write replaces.
Adding a post whose shortcode is already stored changes nothing; `update` changes its caption or
account (moving the image to the new account's folder).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from instacap import paths
from instacap.errors import CacheError, DiskFull
from instacap.files import disk_full, file_lock, is_disk_full, on_full_disk, open_wal, write_atomic

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
_ACCOUNTS = "SELECT account, COUNT(*) FROM posts GROUP BY account ORDER BY COUNT(*) DESC, account"


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
        rel = Path("posts") / post.account / f"{_safe_stem(post.shortcode)}{post.image_ext.lower()}"
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        write_atomic(self.root / rel, data)
        try:
            with on_full_disk(self.root):
                # INSERT OR IGNORE: a second process may have stored the same post meanwhile.
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO posts VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        post.shortcode,
                        post.account,
                        _iso(post.taken_at),
                        post.caption,
                        rel.as_posix(),
                        post.source,
                        post.likes,
                        post.scene,
                        _iso(datetime.now(timezone.utc)),
                        len(data),
                    ),
                )
        except DiskFull:
            if not self.has(post.shortcode):  # no row points to the photo: leave no orphan
                (self.root / rel).unlink(missing_ok=True)
            raise
        return cur.rowcount == 1

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


@dataclass(frozen=True)
class StoreSummary:
    """What a posts store holds, read without creating or changing anything (for `status`)."""

    root: Path
    accounts: dict[str, int]  # post count per account, most posts first
    db_bytes: int  # posts.db and its WAL files
    photo_bytes: int  # the photos its rows point to
    readable: bool  # False when posts.db exists but cannot be read

    @property
    def total(self) -> int:
        return sum(self.accounts.values())

    @property
    def disk_bytes(self) -> int:
        return self.db_bytes + self.photo_bytes


def summarize(root: Path) -> StoreSummary:
    """Counts and disk use of the store at `root` from its database alone: photo sizes come from
    `image_bytes`, so a million posts cost one query, not a million stat calls (only rows written
    before that column existed are stat-ed)."""
    db = root / "posts.db"
    db_bytes = sum(p.stat().st_size for p in root.glob("posts.db*") if p.is_file())
    if not db.is_file():
        return StoreSummary(root, {}, db_bytes, 0, readable=True)
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            accounts = {a: n for a, n in con.execute(_ACCOUNTS)}
            photos = _photo_bytes(con, root)
        finally:
            con.close()
    except sqlite3.Error:
        return StoreSummary(root, {}, db_bytes, 0, readable=False)
    return StoreSummary(root, accounts, db_bytes, photos, readable=True)


def _photo_bytes(con: sqlite3.Connection, root: Path) -> int:
    columns = {r[1] for r in con.execute("PRAGMA table_info(posts)")}
    if "image_bytes" not in columns:  # not opened for writing since the column was added
        return _stat_sizes(root, (r[0] for r in con.execute("SELECT image FROM posts")))
    (known,) = con.execute("SELECT COALESCE(SUM(image_bytes), 0) FROM posts").fetchone()
    unknown = con.execute("SELECT image FROM posts WHERE image_bytes IS NULL")
    return int(known) + _stat_sizes(root, (r[0] for r in unknown))


def _stat_sizes(root: Path, rels: Iterable[str]) -> int:
    total = 0
    for rel in rels:
        # A photo may vanish meanwhile (another process): not worth failing a summary.
        with contextlib.suppress(OSError):
            total += (root / rel).stat().st_size
    return total


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
