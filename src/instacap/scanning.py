"""Finding the posts an import offers (`scan`): instaloader and instalooter folders walked, and the
rows of CSV/JSONL tables, each turned into a `Candidate` that is not yet read or checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from instacap import paths
from instacap.errors import InputError
from instacap.tables import (
    ACCOUNT_COLUMNS,
    CAPTION_COLUMNS,
    ID_COLUMNS,
    IMAGE_COLUMNS,
    TABLE_EXTS,
    TIME_COLUMNS,
    Table,
    parse_time,
    read_table,
)

PHOTO_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
VIDEO_EXTS = frozenset({".mp4", ".mov", ".m4v", ".webm"})

# instaloader's default file names: <date>_UTC.jpg, carousels <date>_UTC_<n>.jpg, caption <date>_UTC.txt,
# metadata <date>_UTC.json[.xz]. Profile files (`id`, `<user>_<id>.json.xz`, `*_profile_pic.jpg`),
# `_comments.json` and `_location.txt` do not match.
_LOADER = re.compile(
    r"(?P<stem>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_UTC)(?:_(?P<n>\d+))?(?P<ext>\.json\.xz|\.[A-Za-z0-9]+)"
)


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


def scan(inputs: Iterable[Path | str], account: str | None = None) -> Found:
    """Every post found under `inputs` (folders, .csv/.tsv, .jsonl); InputError if one is unusable.
    Every input is read through here, so a broken one fails before anything is stored."""
    if account is not None:
        paths.validate_account(account)
    found = Found()
    for raw in inputs:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InputError(f"{path} does not exist; check the path.")
        if path.is_dir():
            found.add(_scan_tree(path))
        elif path.suffix.lower() in TABLE_EXTS:
            found.add(_scan_table(path))
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


class Found:
    """The candidates a scan found, in order: folders' as lists, tables' made again from the
    table's text row by row each time they are iterated (a table of a million rows is not held
    as a million Candidates). `len()` counts them all."""

    def __init__(self) -> None:
        self._parts: list[list[Candidate] | _TableRows] = []

    def add(self, part: list[Candidate] | _TableRows) -> None:
        self._parts.append(part)

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    def __iter__(self) -> Iterator[Candidate]:
        for part in self._parts:
            yield from part


class _TableRows:
    """The candidates of one table (its rows already read through once by `read_table`)."""

    def __init__(self, path: Path, table: Table) -> None:
        self.path, self.table = path, table
        keys = table.keys
        self.image_key = _column(keys, IMAGE_COLUMNS)
        self.caption_key = _column(keys, CAPTION_COLUMNS)
        self.account_key = _column(keys, ACCOUNT_COLUMNS)
        self.time_key = _column(keys, TIME_COLUMNS)
        self.id_key = _column(keys, ID_COLUMNS)

    def __len__(self) -> int:
        return self.table.count

    def __iter__(self) -> Iterator[Candidate]:
        name, folder = self.path.name, self.path.parent
        for line, row in self.table.rows():
            label = f"{name}:{line}"
            if not isinstance(row, dict):
                error = row if isinstance(row, str) else "not a JSON object"
                yield Candidate("table", label, label, None, error=error)
                continue
            image = _text(row.get(self.image_key)).strip()
            yield Candidate(
                source="table",
                label=label,
                stem=image or label,
                media=(folder / image) if image else None,
                caption=_text(row.get(self.caption_key)),
                account=_cell(row, self.account_key),
                taken_at=parse_time(row.get(self.time_key)) if self.time_key else None,
                shortcode=_cell(row, self.id_key),
                error=None if image else "no image path",
            )


def _scan_table(path: Path) -> _TableRows:
    table = read_table(path)
    if not table.count:
        raise InputError(f"{path} has no rows; add one row per post (image path and caption).")
    found = _TableRows(path, table)
    if found.image_key is None or found.caption_key is None:
        missing = [
            names[0]
            for names, key in (
                (IMAGE_COLUMNS, found.image_key),
                (CAPTION_COLUMNS, found.caption_key),
            )
            if key is None
        ]
        have = ", ".join(sorted(set(table.keys))) or "none"
        raise InputError(
            f"{path} lacks the column{'s' if len(missing) > 1 else ''} {' and '.join(missing)} "
            f"(it has: {have}); each row needs an image path and a caption."
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
