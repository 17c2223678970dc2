"""Reading what `instacap import` is given as files: CSV/TSV and JSONL tables (the delimiter
guessed, RFC 4180 quoting), and the text and times inside imported files, whatever their encoding.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from instacap.errors import InputError

TABLE_EXTS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

# Table columns: the first alias present is used.
IMAGE_COLUMNS = ("image", "image_path", "path", "file", "filename", "photo")
CAPTION_COLUMNS = ("caption", "text")
ACCOUNT_COLUMNS = ("account", "username", "user", "owner")
TIME_COLUMNS = ("timestamp", "taken_at", "date", "time")
ID_COLUMNS = ("shortcode", "id")


class Table:
    """A table file read and checked whole, whose rows are parsed again each time `rows()` is
    iterated: a table of a million rows costs its text in memory, not a million dicts.

    `keys` are the column names, `count` the rows (blank lines left out). A row is a dict; None
    for a JSONL line that is not JSON; a string saying what is wrong for a CSV row that cannot
    be read as its header says."""

    def __init__(
        self, keys: list[str], count: int, rows: Callable[[], Iterator[tuple[int, Any]]]
    ) -> None:
        self.keys, self.count, self._rows = keys, count, rows

    def rows(self) -> Iterator[tuple[int, Any]]:
        """(line number, row) for each row, in the file's order."""
        return self._rows()


def read_table(path: Path) -> Table:
    """The table at `path`, parsed once through to the end (InputError if it cannot be read),
    so that what is wrong with the file is known before any row is used."""
    content = _Content(_read_bytes(path))
    if TABLE_EXTS[path.suffix.lower()] == "csv":
        return _read_csv(path, content)

    def rows() -> Iterator[tuple[int, Any]]:
        # Only \n ends a JSON line: str.splitlines would also split at U+2028 or U+0085, which
        # json.dumps(ensure_ascii=False) leaves raw inside strings.
        for i, line in enumerate(content.pieces(), 1):
            if line.strip():
                try:
                    yield i, json.loads(line)
                except json.JSONDecodeError:
                    yield i, None

    keys: dict[str, None] = {}
    count = 0
    for _, row in rows():
        count += 1
        if isinstance(row, dict):
            keys.update((k, None) for k in row if isinstance(k, str))
    return Table(list(keys), count, rows)


class _Content:
    """A table file's text, as `decode_text` reads it (BOMs and NULs dropped), given out a line at
    a time. A UTF-8 file is held as its bytes and decoded line by line: Python stores a text with
    one emoji in it at 4 bytes a character, so a 100 MB table would take 400 MB decoded whole.
    Any other file (UTF-16, Latin-1, NULs) is decoded whole, as before."""

    HEAD = 1 << 20  # the start that the header and the delimiter are found in

    def __init__(self, data: bytes) -> None:
        start = 0
        while data.startswith(codecs.BOM_UTF8, start):
            start += len(codecs.BOM_UTF8)
        other_bom = not start and any(data.startswith(bom) for bom, _ in _BOMS)
        self.text: str | None = None
        self.data = memoryview(data)[start:]
        if other_bom or b"\x00" in data or not _is_utf8(self.data):
            self.text = decode_text(data, keep_tabs=True).lstrip("\ufeff")
            self.data = memoryview(b"")

    def head(self) -> tuple[str, bool]:
        """The text's start (HEAD characters or bytes at most) and whether that is all of it."""
        if self.text is not None:
            return self.text[: self.HEAD], len(self.text) <= self.HEAD
        part = bytes(self.data[: self.HEAD])
        return part.decode("utf-8", errors="ignore"), len(self.data) <= self.HEAD  # a cut char

    def lines(self, skip: str, lf_only: bool) -> Iterator[str]:
        """The lines after the text `skip` (a start of `head()`), ends kept, as csv wants them;
        with `lf_only` a lone \r inside a line stands in as a NUL (see `_read_csv`)."""
        if self.text is not None:
            text = self.text[len(skip) :]
            if lf_only:
                text = re.sub(r"\r(?!\n)", "\x00", text)
            yield from (m.group() for m in _LINE.finditer(text))
            return
        data = self.data[len(skip.encode()) :]
        for m in (_LF_LINE_BYTES if lf_only else _LINE_BYTES).finditer(data):
            line = m.group().decode()
            yield re.sub(r"\r(?!\n)", "\x00", line) if lf_only and "\r" in line else line

    def pieces(self) -> Iterator[str]:
        """text.split("\n"), one piece at a time."""
        if self.text is not None:
            text, start = self.text, 0
            while (end := text.find("\n", start)) >= 0:
                yield text[start:end]
                start = end + 1
            yield text[start:]
            return
        data, start = bytes(self.data), 0  # bytes.find: memoryview has none
        while (end := data.find(b"\n", start)) >= 0:
            yield data[start:end].decode()
            start = end + 1
        yield data[start:].decode()


def _is_utf8(data: memoryview) -> bool:
    """Whether `data` is valid UTF-8, checked a MiB at a time (nothing kept)."""
    check = codecs.getincrementaldecoder("utf-8")()
    try:
        for i in range(0, len(data), 1 << 20):
            check.decode(data[i : i + (1 << 20)])
        check.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


# Delimiters a table may use, in the order that breaks ties.
DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_KNOWN_COLUMNS = frozenset(
    IMAGE_COLUMNS + CAPTION_COLUMNS + ACCOUNT_COLUMNS + TIME_COLUMNS + ID_COLUMNS
)


def _read_csv(path: Path, content: _Content) -> Table:
    """The header and rows of a CSV/TSV table read with RFC 4180 quoting; only the delimiter is
    guessed.

    Guessing the whole dialect from a sample (csv.Sniffer) mistook a quote inside a caption for
    the quote character, or a caption's commas for the delimiter. Here the header line alone
    decides the delimiter and every field is read with the standard rules: quotes around a
    field, `""` for a quote inside it, delimiters and line breaks allowed inside quotes.
    """
    line_offset = 0
    head, whole = content.head()
    skip = ""
    sep = re.match(r"sep=(.)\r?\n", head)  # Excel's "sep=;" first line names the delimiter
    if sep:
        delimiter = sep[1]
        skip = head[: sep.end()]
        line_offset = 1
    else:
        delimiter = _guess_delimiter(path, head)
    if whole and not head[len(skip) :].strip():
        return Table([], 0, lambda: iter(()))
    # In a file whose lines end with \n alone, a lone \r is part of a caption: Python's csv.writer
    # (and so pandas on Linux) leaves it unquoted unless it is in the line terminator. It stands
    # in as a NUL (decode_text removed every real one) while csv reads the lines.
    header = _first_record(head[len(skip) :])
    end = len(skip) + len(header)
    lf_only = head[end : end + 1] == "\n"
    names = [h.strip() for h in next(csv.reader([header], delimiter=delimiter), [])]

    def rows() -> Iterator[tuple[int, Any]]:
        reader = csv.reader(content.lines(skip, lf_only), delimiter=delimiter)
        next(reader, None)  # the header
        start = reader.line_num + 1
        for fields in reader:
            line, start = start + line_offset, reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue  # a blank line
            if lf_only:
                fields = [f.replace("\x00", "\r") for f in fields]
            yield line, _csv_row(names, fields, delimiter)

    try:
        count = sum(1 for _ in rows())  # every row read once: a broken file fails here
    except csv.Error as exc:
        raise InputError(f"{path} is not a readable CSV file ({exc}); check its format.") from exc
    return Table(names, count, rows)


# A line as io.StringIO(newline="") gives it to csv: ended by \r\n, \r or \n, kept.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_LINE_BYTES = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_LF_LINE_BYTES = re.compile(rb"[^\n]*\n|[^\n]+")  # ended by \n alone (a lone \r is text)


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
