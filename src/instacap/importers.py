"""Bringing existing data into the posts store: instaloader and instalooter folders, CSV and JSONL.

Importing is two steps so that bad input never half-changes the store:
1. `scan(paths)` reads folder listings and table files and returns the candidate posts, or raises
   InputError with one sentence (nonexistent path, empty folder, nothing recognisable, a table
   without the needed columns) before anything is written.
2. `run(store, candidates)` stores them one by one. Each candidate is either stored, found
   already stored (same shortcode, same caption and account), updated (same shortcode, but the
   caption or account changed: the new import wins), or skipped with a short reason that is
   counted. Every post is committed on its own, so an interrupted import loses at most the post in
   flight and a rerun finishes the rest without duplicates.

Only the FIRST media of a post is used (the photo the caption was written for); a post whose first
media is a video is skipped, as is a post without a caption.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import json
import lzma
import os
import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from instacap import images, paths
from instacap.errors import DiskFull, InputError
from instacap.files import reserved_space
from instacap.posts import NewPost, PostStore
from instacap.progress import SILENT, Reporter

PHOTO_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
VIDEO_EXTS = frozenset({".mp4", ".mov", ".m4v", ".webm"})
TABLE_EXTS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

# instaloader's default file names: <date>_UTC.jpg, carousels <date>_UTC_<n>.jpg, caption <date>_UTC.txt,
# metadata <date>_UTC.json[.xz]. Profile files (`id`, `<user>_<id>.json.xz`, `*_profile_pic.jpg`),
# `_comments.json` and `_location.txt` do not match.
_LOADER = re.compile(
    r"(?P<stem>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_UTC)(?:_(?P<n>\d+))?(?P<ext>\.json\.xz|\.[A-Za-z0-9]+)"
)

# Table columns: the first alias present is used.
IMAGE_COLUMNS = ("image", "image_path", "path", "file", "filename", "photo")
CAPTION_COLUMNS = ("caption", "text")
ACCOUNT_COLUMNS = ("account", "username", "user", "owner")
TIME_COLUMNS = ("timestamp", "taken_at", "date", "time")
ID_COLUMNS = ("shortcode", "id")

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


@dataclass(frozen=True)
class Candidate:
    """One post found by `scan`, not yet read or checked."""

    source: str  # instaloader | instalooter | table
    label: str  # where it came from, for messages: a file path or "posts.csv:12"
    stem: str  # stable name of the post within its folder or table
    media: Path | None  # the first photo (None: no photo file)
    is_video: bool = False
    caption_file: Path | None = None
    caption: str | None = None  # tables carry the caption inline
    meta_file: Path | None = None
    account: str | None = None  # table column, or the folder's name when it is a valid account
    taken_at: datetime | None = None
    shortcode: str | None = None
    error: str | None = None  # why a table row is unusable as written


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
# Disk space held while importing, so that the posts of an import the disk cannot hold can be
# deleted again: the delete writes a few pages per hundred posts to SQLite's log.
UNDO_RESERVE = 2 << 20


# -- step 1: finding the posts ----------------------------------------------------------------


def scan(inputs: Iterable[Path | str], account: str | None = None) -> list[Candidate]:
    """Every post found under `inputs` (folders, .csv/.tsv, .jsonl); InputError if one is unusable."""
    if account is not None:
        paths.validate_account(account)
    found: list[Candidate] = []
    for raw in inputs:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InputError(f"{path} does not exist; check the path.")
        if path.is_dir():
            found.extend(_scan_tree(path))
        elif path.suffix.lower() in TABLE_EXTS:
            found.extend(_scan_table(path))
        else:
            raise InputError(
                f"{path} is neither a folder nor a .csv/.jsonl file; instacap import reads "
                "instaloader or instalooter folders and CSV/JSONL tables."
            )
    return found


def _scan_tree(root: Path) -> list[Candidate]:
    found: list[Candidate] = []
    any_file = False
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        names = sorted(f for f in filenames if not f.startswith("."))
        any_file = any_file or bool(names)
        found.extend(_scan_folder(Path(dirpath), names))
    if not any_file:
        raise InputError(
            f"The folder {root} is empty; point instacap import at a folder of downloaded posts."
        )
    if not found:
        raise InputError(
            f"The folder {root} holds no posts instacap recognises; it reads instaloader folders "
            "(2024-05-01_12-00-00_UTC.jpg + .txt caption), instalooter folders (<id>.jpg + "
            "<id>.json) and CSV/JSONL tables."
        )
    return found


def _folder_account(folder: Path) -> str | None:
    try:
        return paths.validate_account(folder.name)
    except InputError:
        return None


def _scan_folder(folder: Path, names: list[str]) -> list[Candidate]:
    """The posts in one folder: instaloader's naming if any file uses it, else instalooter's."""
    groups: dict[str, dict[str, Any]] = {}
    for name in names:
        m = _LOADER.fullmatch(name)
        if m:
            g = groups.setdefault(m["stem"], {"media": {}, "txt": None, "meta": None})
            ext = m["ext"].lower()
            if ext in PHOTO_EXTS or ext in VIDEO_EXTS:
                g["media"].setdefault(int(m["n"] or 0), []).append(folder / name)
            elif m["n"] is None and ext == ".txt":
                g["txt"] = folder / name
            elif (
                m["n"] is None
                and ext in (".json", ".json.xz")
                and (g["meta"] is None or ext == ".json.xz")  # prefer instaloader's default .xz
            ):
                g["meta"] = folder / name
    owner = _folder_account(folder)
    if groups:
        return [_loader_candidate(folder, stem, g, owner) for stem, g in sorted(groups.items())]
    return _looter_candidates(folder, names, owner)


def _loader_candidate(folder: Path, stem: str, g: dict[str, Any], owner: str | None) -> Candidate:
    first = g["media"][min(g["media"])] if g["media"] else []
    photos = [p for p in first if p.suffix.lower() in PHOTO_EXTS]
    # A video post comes with a .jpg thumbnail beside the .mp4: the video decides.
    is_video = any(p.suffix.lower() in VIDEO_EXTS for p in first)
    return Candidate(
        source="instaloader",
        label=str(photos[0] if photos else folder / stem),
        stem=stem,
        media=photos[0] if photos else None,
        is_video=is_video,
        caption_file=g["txt"],
        meta_file=g["meta"],
        account=owner,
        taken_at=datetime.strptime(stem, "%Y-%m-%d_%H-%M-%S_UTC").replace(tzinfo=timezone.utc),
    )


def _looter_candidates(folder: Path, names: list[str], owner: str | None) -> list[Candidate]:
    present = set(names)
    found = []
    for name in names:
        p = folder / name
        ext = p.suffix.lower()
        if p.stem.endswith("_profile_pic") or (ext not in PHOTO_EXTS and ext not in VIDEO_EXTS):
            continue
        if ext in VIDEO_EXTS and any(p.stem + e in present for e in PHOTO_EXTS):
            continue  # the photo beside it is the candidate (marked as a video below)
        is_video = ext in VIDEO_EXTS or any(p.stem + e in present for e in VIDEO_EXTS)
        meta = f"{p.stem}.json"
        txt = f"{p.stem}.txt"
        found.append(
            Candidate(
                source="instalooter",
                label=str(p),
                stem=p.stem,
                media=None if ext in VIDEO_EXTS else p,
                is_video=is_video,
                caption_file=folder / txt if txt in present else None,
                meta_file=folder / meta if meta in present else None,
                account=owner,
            )
        )
    return found


def _scan_table(path: Path) -> list[Candidate]:
    keys, rows = _read_table(path)
    if not rows:
        raise InputError(f"{path} has no rows; add one row per post (image path and caption).")
    image_key = _column(keys, IMAGE_COLUMNS)
    caption_key = _column(keys, CAPTION_COLUMNS)
    if image_key is None or caption_key is None:
        missing = [
            names[0]
            for names, key in ((IMAGE_COLUMNS, image_key), (CAPTION_COLUMNS, caption_key))
            if key is None
        ]
        have = ", ".join(sorted(set(keys))) or "none"
        raise InputError(
            f"{path} lacks the column{'s' if len(missing) > 1 else ''} {' and '.join(missing)} "
            f"(it has: {have}); each row needs an image path and a caption."
        )
    account_key = _column(keys, ACCOUNT_COLUMNS)
    time_key = _column(keys, TIME_COLUMNS)
    id_key = _column(keys, ID_COLUMNS)
    found = []
    for line, row in rows:
        label = f"{path.name}:{line}"
        if not isinstance(row, dict):
            error = row if isinstance(row, str) else "not a JSON object"
            found.append(Candidate("table", label, label, None, error=error))
            continue
        image = _text(row.get(image_key)).strip()
        found.append(
            Candidate(
                source="table",
                label=label,
                stem=image or label,
                media=(path.parent / image) if image else None,
                caption=_text(row.get(caption_key)),
                account=_cell(row, account_key),
                taken_at=parse_time(row.get(time_key)) if time_key else None,
                shortcode=_cell(row, id_key),
                error=None if image else "no image path",
            )
        )
    return found


def _cell(row: dict[str, Any], key: str | None) -> str | None:
    return (_text(row.get(key)).strip() or None) if key else None


def _column(keys: list[str], aliases: tuple[str, ...]) -> str | None:
    lowered: dict[str, str] = {}
    for k in keys:
        lowered.setdefault(k.strip().lower(), k)  # the first of two spellings counts
    return next((lowered[a] for a in aliases if a in lowered), None)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, Any]]]:
    """The column names and the (line number, row) pairs of a table. A row is a dict; None for a
    JSONL line that is not JSON; a string saying what is wrong for a CSV row that cannot be read
    as its header says."""
    text = decode_text(_read_bytes(path), keep_tabs=True).lstrip("\ufeff")
    if TABLE_EXTS[path.suffix.lower()] == "csv":
        return _read_csv(path, text)
    rows: list[tuple[int, Any]] = []
    # Only \n ends a JSON line: str.splitlines would also split at U+2028 or U+0085, which
    # json.dumps(ensure_ascii=False) leaves raw inside strings.
    for i, line in enumerate(text.split("\n"), 1):
        if line.strip():
            try:
                rows.append((i, json.loads(line)))
            except json.JSONDecodeError:
                rows.append((i, None))
    keys = list(
        {k: None for _, row in rows if isinstance(row, dict) for k in row if isinstance(k, str)}
    )
    return keys, rows


# Delimiters a table may use, in the order that breaks ties.
DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_KNOWN_COLUMNS = frozenset(
    IMAGE_COLUMNS + CAPTION_COLUMNS + ACCOUNT_COLUMNS + TIME_COLUMNS + ID_COLUMNS
)


def _read_csv(path: Path, text: str) -> tuple[list[str], list[tuple[int, Any]]]:
    """The header and rows of a CSV/TSV table read with RFC 4180 quoting; only the delimiter is
    guessed.

    Guessing the whole dialect from a sample (csv.Sniffer) mistook a quote inside a caption for
    the quote character, or a caption's commas for the delimiter. Here the header line alone
    decides the delimiter and every field is read with the standard rules: quotes around a
    field, `""` for a quote inside it, delimiters and line breaks allowed inside quotes.
    """
    line_offset = 0
    sep = re.match(r"sep=(.)\r?\n", text)  # Excel's "sep=;" first line names the delimiter
    if sep:
        delimiter = sep[1]
        text = text[sep.end() :]
        line_offset = 1
    else:
        delimiter = _guess_delimiter(path, text)
    if not text.strip():
        return [], []
    # In a file whose lines end with \n alone, a lone \r is part of a caption: Python's csv.writer
    # (and so pandas on Linux) leaves it unquoted unless it is in the line terminator. It stands
    # in as a NUL (decode_text removed every real one) while csv reads the lines.
    header = _first_record(text)
    lf_only = text[len(header) : len(header) + 1] == "\n"
    if lf_only:
        text = re.sub(r"\r(?!\n)", "\x00", text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, Any]] = []
    try:
        names = [h.strip() for h in next(reader)]
        start = reader.line_num + 1
        for fields in reader:
            line, start = start + line_offset, reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue  # a blank line
            if lf_only:
                fields = [f.replace("\x00", "\r") for f in fields]
            rows.append((line, _csv_row(names, fields, delimiter)))
    except csv.Error as exc:
        raise InputError(f"{path} is not a readable CSV file ({exc}); check its format.") from exc
    return names, rows


def _csv_row(names: list[str], fields: list[str], delimiter: str) -> dict[str, str] | str:
    """The row as a dict, or why it cannot be trusted: a row with more or fewer fields than the
    header is a caption with an unquoted delimiter or line break, and reading it anyway would
    cut the caption and put its words in other columns (an invented account)."""
    while len(fields) > len(names) and not fields[-1].strip():
        fields = fields[:-1]  # trailing empty fields (a delimiter at the end of the line)
    if len(fields) != len(names):
        what = _DELIMITER_NAMES.get(delimiter, repr(delimiter))
        return (
            f"has {len(fields)} fields but the header names {len(names)}; put captions that "
            f"contain a {what} or a line break in double quotes"
        )
    row: dict[str, str] = {}
    for name, value in zip(names, fields, strict=True):
        row.setdefault(name, value)  # a repeated column name: the first one counts
    return row


def _guess_delimiter(path: Path, text: str) -> str:
    """The delimiter of the header line: the one that splits it into the most known column names
    (then into the most columns); InputError when none splits it."""
    header = _first_record(text)
    if not header.strip():
        return ","  # an empty table: the caller says it has no rows
    prefer = ("\t", ",", ";") if path.suffix.lower() == ".tsv" else DELIMITERS

    def score(d: str) -> tuple[int, int, int]:
        cells = next(csv.reader([header], delimiter=d), [])
        known = sum(c.strip().lower() in _KNOWN_COLUMNS for c in cells)
        return known, len(cells), -prefer.index(d)

    best = max(prefer, key=score)
    if score(best)[1] < 2:
        shown = header if len(header) <= 60 else header[:57] + "..."
        raise InputError(
            f"The first line of {path} ({shown!r}) has no comma, semicolon or tab between column "
            "names; start the table with a header line such as image,caption."
        )
    return best


def _first_record(text: str) -> str:
    """The header line: text up to the first line break outside double quotes."""
    quoted = False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c in "\r\n" and not quoted:
            return text[:i]
    return text


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read {path} ({exc.strerror}); check its permissions.") from exc


# -- step 2: storing them ---------------------------------------------------------------------


def run(
    store: PostStore,
    candidates: list[Candidate],
    account: str | None = None,
    reporter: Reporter = SILENT,
) -> Result:
    """Store `candidates` (from `scan`). A post already stored with the same caption and account is
    counted, not written again; one whose caption or account changed is updated."""
    result = Result()
    seen: dict[str, tuple[str, str, str]] = {}  # shortcode -> caption, account, label: this run
    added: list[str] = []  # posts this import stored: taken back if the disk fills up
    reporter.start("importing", total=len(candidates))
    with reserved_space(store.root, UNDO_RESERVE) as release:
        try:
            for cand in candidates:
                _import_one(store, cand, account, seen, added, result)
                reporter.advance(
                    "importing", imported=result.imported, skipped=sum(result.skipped.values())
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


def _import_one(
    store: PostStore,
    cand: Candidate,
    account: str | None,
    seen: dict[str, tuple[str, str, str]],
    added: list[str],
    result: Result,
) -> None:
    try:
        post, image = resolve(cand, account)
        first = seen.get(post.shortcode)
        if first is not None and first[:2] != (post.caption, post.account):
            # The same post twice in one import: the first one wins, so rerunning the
            # import gives the same store instead of flipping between the two captions.
            raise _Skip(
                "duplicate",
                f"same shortcode {post.shortcode} as {first[2]} but another caption or "
                "account; the first is kept",
            )
        if _store(store, post, image, result):
            added.append(post.shortcode)
        seen.setdefault(post.shortcode, (post.caption, post.account, cand.label))
    except _Skip as skip:
        result.skipped[skip.reason] += 1
        if skip.detail and len(result.problems) < MAX_PROBLEMS:
            result.problems.append(f"{cand.label}: {skip.detail}")


def _store(store: PostStore, post: NewPost, image: Path, result: Result) -> bool:
    """Add, update or leave one resolved post, counting which; True when it was added."""
    stored = store.get(post.shortcode)
    if stored is not None:
        if (stored.caption, stored.account) == (post.caption, post.account):
            result.already += 1
            return False
        # Earlier versions could store a mangled caption; importing again repairs it. The
        # photo is only needed if the stored file has gone missing.
        spare = image if not stored.image.is_file() and images.check(image) is None else None
        if store.update(post, spare):
            result.updated += 1
        else:
            result.already += 1  # another import changed it meanwhile
        return False
    reason = images.check(image)
    if reason is not None:
        raise _Skip(reason, f"{image} is not a usable photo ({reason})")
    if store.add(post, image):
        result.imported += 1
        result.accounts[post.account] += 1
        return True
    result.already += 1
    return False


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


# -- text and time helpers ---------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes, keep_tabs: bool = False) -> str:
    """Bytes of a caption or table file as text: BOMs honoured, UTF-8, else UTF-16 or Latin-1."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = data.decode(encoding, errors="replace")
            break
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Many NULs in odd or even places: UTF-16 without a BOM; otherwise a legacy 8-bit file.
            if data.count(b"\x00") > len(data) // 4:
                le = data[1::2].count(0) >= data[0::2].count(0)
                text = data.decode("utf-16-le" if le else "utf-16-be", errors="replace")
            else:
                text = data.decode("cp1252", errors="replace")
    if keep_tabs:
        return text.replace("\x00", "")
    return text


def clean_caption(text: str) -> str:
    """NFC text without NULs or control characters (newlines kept), trimmed; "" when nothing is left."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = "".join(c for c in text if c == "\n" or unicodedata.category(c) != "Cc").replace(
        "\ufeff", ""
    )
    return unicodedata.normalize("NFC", text).strip()


def parse_time(value: Any) -> datetime | None:
    """A UTC datetime from seconds since 1970, ISO 8601 text or instaloader's file stem; else None."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)) or re.fullmatch(r"\s*\d+(\.\d+)?\s*", str(value)):
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        text = str(value).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(_UTC)?", text):
            return datetime.strptime(text[:19], "%Y-%m-%d_%H-%M-%S").replace(tzinfo=timezone.utc)
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return (
        when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    )


def derive_shortcode(account: str, stem: str) -> str:
    """A stable id for a post whose metadata has no shortcode: the same input always gives the same id."""
    digest = hashlib.sha1(f"{account}/{stem}".encode()).hexdigest()[:16]
    return f"imp_{digest}"
