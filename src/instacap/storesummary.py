"""What a posts store holds, read without creating or changing anything (for `instacap status`).

Counts and disk use come from `posts.db` alone: photo sizes are kept in its `image_bytes` column,
so a million posts cost one query, not a million stat calls. `posts.summarize` is this module's
`summarize`; it lives apart from the store's writing code (`posts.py`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ACCOUNTS = "SELECT account, COUNT(*) FROM posts GROUP BY account ORDER BY COUNT(*) DESC, account"
_ACCOUNTS = ACCOUNTS


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
