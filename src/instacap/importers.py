"""Bringing existing data into the posts store: instaloader and instalooter folders, CSV and JSONL.

Importing is two steps so that bad input never half-changes the store:
1. `scan(paths)` reads folder listings and table files and returns the candidate posts, or raises
   InputError with one sentence (nonexistent path, empty folder, nothing recognisable, a table
   without the needed columns) before anything is written. A table is read through once
   there and kept as its text: its rows become candidates again, batch by batch, as `run` stores
   them, so a table of a million rows is not held as a million objects.
2. `run(store, candidates)` stores them in batches. Each candidate is either stored, found
   already stored (same shortcode, same caption and account), updated (same shortcode, but the
   caption or account changed: the new import wins), or skipped with a short reason that is
   counted. Each batch of new posts is committed at once (photos flushed to disk together, then
   their rows in one transaction), so an interrupted import loses at most the batch in flight and
   a rerun finishes the rest without duplicates.

Only the FIRST media of a post is used (the photo the caption was written for); a post whose first
media is a video is skipped, as is a post without a caption.

Step 1 lives in `instacap.scanning` (folders) and `instacap.tables` (tables, and the text and
times of imported files); this module stores and resolves, and offers `scan` as before.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import lzma
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instacap import images, paths
from instacap.errors import DiskFull, InputError
from instacap.files import reserved_space
from instacap.posts import NewPost, PostStore
from instacap.progress import SILENT, Reporter
from instacap.scanning import Candidate as Candidate
from instacap.scanning import scan as scan
from instacap.tables import clean_caption as clean_caption
from instacap.tables import decode_text as decode_text
from instacap.tables import derive_shortcode as derive_shortcode
from instacap.tables import parse_time as parse_time

# What to do about the most common skip reasons (shown when nothing could be imported).
HINTS = {
    "no caption": "posts without a caption are not used",
    "video": "instacap learns from photos, so posts whose first media is a video are skipped",
    "no account": "pass --account NAME to say whose posts these are",
    "invalid account": "account names may only use letters, digits, '.' and '_'",
    "missing": "check the image paths (in a table they are relative to the table file)",
    "bad metadata": "the .json/.json.xz files are damaged; re-download those posts",
    "no photo": "the posts have metadata but no photo file",
    "bad row": "fix the listed rows of the table",
    "unreadable": "check that the listed files exist and are readable",
    "duplicate": "give each post its own shortcode, or remove the repeated rows",
}


@dataclass
class Result:
    """What an import did; `skipped` counts per reason, `problems` names the first few files."""

    imported: int = 0
    already: int = 0
    updated: int = 0  # stored before with another caption or account
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    accounts: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "already_stored": self.already,
            "updated": self.updated,
            "skipped": sum(self.skipped.values()),
            "skipped_by_reason": dict(self.skipped.most_common()),
            "accounts": dict(self.accounts.most_common()),
            "problems": list(self.problems),
        }


class _Skip(Exception):
    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


MAX_PROBLEMS = 20
# Candidates stored together: one flush to disk and one transaction each. An interrupted import
# loses at most this batch (a fraction of a second of work).
BATCH = 256
# Disk space held while importing, so that the posts of an import the disk cannot hold can be
# deleted again: the delete writes a few pages per hundred posts to SQLite's log.
UNDO_RESERVE = 2 << 20


# -- step 2: storing them ---------------------------------------------------------------------


def run(
    store: PostStore,
    candidates: Iterable[Candidate],
    account: str | None = None,
    reporter: Reporter = SILENT,
) -> Result:
    """Store `candidates` (from `scan`). A post already stored with the same caption and account is
    counted, not written again; one whose caption or account changed is updated."""
    result = Result()
    # shortcode -> hash of (caption, account), label: the posts of this run, without their text
    seen: dict[str, tuple[int, str]] = {}
    added: list[str] = []  # posts this import stored: taken back if the disk fills up
    reporter.start("importing", total=len(candidates) if isinstance(candidates, Sized) else None)
    with reserved_space(store.root, UNDO_RESERVE) as release:
        try:
            stream = iter(candidates)  # a table's candidates are made as they are read
            while chunk := list(itertools.islice(stream, BATCH)):
                _import_batch(store, chunk, account, seen, added, result)
                reporter.advance(
                    "importing",
                    len(chunk),
                    imported=result.imported,
                    skipped=sum(result.skipped.values()),
                )
        except DiskFull:
            # Leave the store as it was before this import rather than part of it (a rerun
            # after freeing space imports everything); the reserve pays for the delete. If even
            # that fails, every stored post is still complete.
            release()
            with contextlib.suppress(DiskFull, OSError, sqlite3.Error):
                store.remove(added)
            raise
    return result


def _import_batch(
    store: PostStore,
    chunk: list[Candidate],
    account: str | None,
    seen: dict[str, tuple[int, str]],
    added: list[str],
    result: Result,
) -> None:
    """Store up to BATCH candidates. The new posts go to the store together (`add_many`: one
    flush to disk, one transaction: two queries per batch instead of three per post); posts
    stored before are compared, and updated where they changed, one by one."""
    resolved: list[tuple[Candidate, NewPost, Path]] = []
    for cand in chunk:
        with _counting_skips(cand, result):
            resolved.append((cand, *resolve(cand, account)))
    stored = store.known([post.shortcode for _, post, _ in resolved])
    new: dict[str, tuple[NewPost, bytes]] = {}
    for cand, post, image in resolved:
        with _counting_skips(cand, result):
            first = seen.get(post.shortcode)
            same = hash((post.caption, post.account))
            if first is not None and first[0] != same:
                # The same post twice in one import: the first one wins, so rerunning the
                # import gives the same store instead of flipping between the two captions.
                raise _Skip(
                    "duplicate",
                    f"same shortcode {post.shortcode} as {first[1]} but another caption or "
                    "account; the first is kept",
                )
            if post.shortcode in new:
                result.already += 1  # the same post twice in this batch
            elif post.shortcode in stored:
                _store(store, post, image, result)
            else:
                # Read once: the bytes checked are the bytes stored.
                data = _photo_bytes(image)
                reason = images.check(image, data)
                if reason is not None:
                    raise _Skip(reason, f"{image} is not a usable photo ({reason})")
                new[post.shortcode] = (post, data)
            seen.setdefault(post.shortcode, (same, cand.label))
    if new:
        done = store.add_many(list(new.values()))
        added += done
        result.imported += len(done)
        result.already += len(new) - len(done)  # another process stored those meanwhile
        result.accounts.update(new[sc][0].account for sc in done)


@contextlib.contextmanager
def _counting_skips(cand: Candidate, result: Result) -> Iterator[None]:
    """Count a candidate that raises _Skip in `result` (and name the first few), then go on."""
    try:
        yield
    except _Skip as skip:
        result.skipped[skip.reason] += 1
        if skip.detail and len(result.problems) < MAX_PROBLEMS:
            result.problems.append(f"{cand.label}: {skip.detail}")


def _store(store: PostStore, post: NewPost, image: Path, result: Result) -> None:
    """A post stored before: counted when unchanged, else updated with the new caption/account."""
    stored = store.get(post.shortcode)
    if stored is None:  # removed meanwhile by another process: store it again
        if store.add(post, image):
            result.imported += 1
            result.accounts[post.account] += 1
        return
    if (stored.caption, stored.account) == (post.caption, post.account):
        result.already += 1
        return
    # Earlier versions could store a mangled caption; importing again repairs it. The
    # photo is only needed if the stored file has gone missing.
    spare = image if not stored.image.is_file() and images.check(image) is None else None
    if store.update(post, spare):
        result.updated += 1
    else:
        result.already += 1  # another import changed it meanwhile


def _photo_bytes(image: Path) -> bytes:
    """A photo file's bytes; a missing or unreadable one skips this post only."""
    try:
        return image.read_bytes()
    except FileNotFoundError:
        raise _Skip("missing", f"{image} is not a usable photo (missing)") from None
    except OSError:
        raise _Skip("unreadable", f"{image} is not a usable photo (unreadable)") from None


def resolve(cand: Candidate, account: str | None = None) -> tuple[NewPost, Path]:
    """The post a candidate describes, and its photo; raises _Skip with the reason it is unusable."""
    if cand.error:
        raise _Skip("bad row", cand.error)
    if cand.is_video:
        raise _Skip("video")
    node = _read_meta(cand.meta_file) if cand.meta_file else {}
    if node.get("is_video") and cand.source == "instalooter":
        raise _Skip("video")
    if cand.media is None:
        raise _Skip("no photo", "no photo file for this post")
    caption = clean_caption(_caption_of(cand, node))
    if not caption:
        raise _Skip("no caption")
    owner = _owner(cand, node, account)
    shortcode = str(node.get("shortcode") or node.get("code") or cand.shortcode or "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,80}", shortcode):
        shortcode = derive_shortcode(owner, cand.stem)
    post = NewPost(
        shortcode=shortcode,
        account=owner,
        taken_at=parse_time(
            node.get("taken_at_timestamp") or node.get("taken_at") or node.get("date")
        )
        or cand.taken_at,
        caption=caption,
        source=cand.source,
        image_ext=cand.media.suffix.lower() or ".jpg",
        likes=_likes(node),
    )
    return post, cand.media


def _owner(cand: Candidate, node: dict[str, Any], account: str | None) -> str:
    """The account: metadata, else the table column or folder name, else --account."""
    choices = [_dict(node.get("owner")).get("username"), node.get("username")]
    for name in choices:
        if isinstance(name, str) and name:
            try:
                return paths.validate_account(name)
            except InputError:
                pass  # a strange name in metadata never reaches the filesystem; fall back
    if cand.account:
        try:
            return paths.validate_account(cand.account)
        except InputError:
            if cand.source == "table":
                raise _Skip(
                    "invalid account", f"{cand.account!r} is not a valid account name"
                ) from None
    if account:
        return account
    raise _Skip("no account", "cannot tell whose post this is; pass --account NAME")


def _caption_of(cand: Candidate, node: dict[str, Any]) -> str:
    if cand.caption is not None:
        return cand.caption
    if cand.caption_file is not None:
        return decode_text(_read_post_file(cand.caption_file))
    edges = _dict(node.get("edge_media_to_caption")).get("edges")
    if isinstance(edges, list) and edges:
        return str(_dict(_dict(edges[0]).get("node")).get("text") or "")
    cap = node.get("caption")
    if isinstance(cap, dict):
        return str(cap.get("text") or "")
    return cap if isinstance(cap, str) else ""


def _read_meta(path: Path) -> dict[str, Any]:
    """The post node of an instaloader (`{"node": ...}`) or instalooter (the node itself) dump."""
    try:
        raw = _read_post_file(path)
        data = json.loads(lzma.decompress(raw) if path.name.endswith(".xz") else raw)
    except lzma.LZMAError:
        raise _Skip("bad metadata", f"{path.name} is not a valid .xz file") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _Skip("bad metadata", f"{path.name} is not valid JSON") from None
    if not isinstance(data, dict):
        raise _Skip("bad metadata", f"{path.name} does not describe a post")
    node = data.get("node", data)
    kind = _dict(data.get("instaloader")).get("node_type", "Post")
    if not isinstance(node, dict) or kind != "Post":
        raise _Skip("bad metadata", f"{path.name} does not describe a post")
    return node


def _read_post_file(path: Path) -> bytes:
    """A caption or metadata file's bytes; unreadable skips this post only, not the import."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _Skip("unreadable", f"cannot read {path.name} ({exc.strerror})") from None


def _dict(value: Any) -> dict[str, Any]:
    # Metadata is someone else's JSON: a field of an unexpected type counts as absent.
    return value if isinstance(value, dict) else {}


def _likes(node: dict[str, Any]) -> int | None:
    for key in ("edge_media_preview_like", "edge_liked_by"):
        count = _dict(node.get(key)).get("count")
        if isinstance(count, int):
            return count
    value = node.get("like_count", node.get("likes"))
    return value if isinstance(value, int) else None
