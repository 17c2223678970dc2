"""`instacap import`: instaloader and instalooter folders, CSV/JSONL tables, and every bad input.

The instaloader layout reproduced here is what instaloader 4.16 writes with its default
`{date_utc}_UTC` file names (metadata as `.json.xz`, or `.json` with --no-compress-json).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import lzma
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from instacap import importers
from instacap.cli import app
from instacap.errors import CacheError, DiskFull, InputError
from instacap.posts import NewPost, PostStore

runner = CliRunner()


def _photo_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (90, 160, 40)).save(buf, "JPEG")
    return buf.getvalue()


PHOTO = _photo_bytes()  # one small photo shared by the generated tables


# -- building input folders ----------------------------------------------------------------------


def jpeg(path: Path, color=(200, 60, 30), size=(24, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def node(shortcode: str, username: str | None = "natgeo", caption: str | None = None, **extra):
    n = {"__typename": "GraphImage", "shortcode": shortcode, "taken_at_timestamp": 1704103200}
    if username is not None:
        n["owner"] = {"id": "787132", "username": username}
    if caption is not None:
        n["edge_media_to_caption"] = {"edges": [{"node": {"text": caption}}]}
    n["edge_media_preview_like"] = {"count": 42}
    n.update(extra)
    return {"node": n, "instaloader": {"version": "4.16", "node_type": "Post"}}


def write_meta(path: Path, data: dict, xz: bool = True) -> None:
    raw = json.dumps(data).encode()
    path.write_bytes(lzma.compress(raw) if xz else raw)


def instaloader_folder(root: Path, name: str = "natgeo") -> Path:
    d = root / name
    # A: single photo, caption .txt, metadata .json.xz
    a = "2024-01-01_10-00-00_UTC"
    slide_a = jpeg(d / f"{a}.jpg", (10, 120, 200))
    (d / f"{a}.txt").write_text("Blue hour in Lisbon 🌊 #travel", encoding="utf-8")
    write_meta(d / f"{a}.json.xz", node("AAA111"))
    # B: carousel, photo first then a video; metadata as plain .json
    b = "2024-01-02_11-30-00_UTC"
    jpeg(d / f"{b}_1.jpg", (250, 250, 10))
    (d / f"{b}_2.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    jpeg(d / f"{b}_3.jpg", (0, 0, 0))
    (d / f"{b}.txt").write_text("Carousel!\nSlide 1 is the one", encoding="utf-8")
    write_meta(d / f"{b}.json", node("BBB222"), xz=False)
    # C: carousel whose first slide is a video: skipped even though slide 2 is a photo
    c = "2024-01-03_08-00-00_UTC"
    (d / f"{c}_1.mp4").write_bytes(b"video")
    jpeg(d / f"{c}_1.jpg")  # instaloader's thumbnail of the video
    jpeg(d / f"{c}_2.jpg")
    (d / f"{c}.txt").write_text("Video first", encoding="utf-8")
    # D: a video post (thumbnail .jpg beside the .mp4)
    dd = "2024-01-04_08-00-00_UTC"
    jpeg(d / f"{dd}.jpg")
    (d / f"{dd}.mp4").write_bytes(b"video")
    (d / f"{dd}.txt").write_text("Just a video", encoding="utf-8")
    # E: no caption anywhere
    e = "2024-01-05_08-00-00_UTC"
    jpeg(d / f"{e}.jpg")
    write_meta(d / f"{e}.json.xz", node("EEE555"))
    # F: no metadata at all: account from the folder name, derived shortcode
    f = "2024-01-06_21-15-09_UTC"
    jpeg(d / f"{f}.jpg", (40, 40, 40))
    (d / f"{f}.txt").write_text("Night walk", encoding="utf-8")
    (d / f"{f}_comments.json").write_text("[]")
    (d / f"{f}_location.txt").write_text("Lisbon")
    # Profile files are not posts.
    (d / "id").write_text("787132")
    write_meta(
        d / f"{name}_787132.json.xz",
        {"node": {"username": name}, "instaloader": {"node_type": "Profile"}},
    )
    jpeg(d / "2023-12-31_23-59-59_UTC_profile_pic.jpg")
    d.joinpath(".slide_a").write_bytes(slide_a)  # hidden files are ignored
    return d


def snapshot(home: Path) -> tuple:
    """Every file under the cache and every row of the posts table: 'unchanged' means equal."""
    files = sorted(
        str(p.relative_to(home))
        for p in home.rglob("*")
        if p.is_file() and not p.name.startswith("posts.db")
    )
    db = home / "posts.db"
    rows = []
    if db.exists():
        con = sqlite3.connect(db)
        rows = con.execute("SELECT * FROM posts ORDER BY shortcode").fetchall()
        con.close()
    return files, rows


@pytest.fixture
def filled(instacap_home):
    """A store that already holds one post, so 'unchanged' is checked against real content."""
    with PostStore.open() as store:
        store.add(
            NewPost("KEEP01", "someone", None, "kept caption", "table"),
            jpeg(instacap_home.parent / "keep.jpg"),
        )
    return snapshot(instacap_home)


def do_import(*inputs, account=None):
    candidates = importers.scan(inputs, account)
    with PostStore.open() as store:
        result = importers.run(store, candidates, account=account)
        posts = {p.shortcode: p for p in store.posts()}
    return result, posts


# -- instaloader ---------------------------------------------------------------------------------


def test_instaloader_folder(tmp_path):
    folder = instaloader_folder(tmp_path / "in")
    result, posts = do_import(folder)
    assert result.imported == 3
    assert result.skipped == {"video": 2, "no caption": 1}
    a, b = posts["AAA111"], posts["BBB222"]
    assert a.account == "natgeo" and a.source == "instaloader"
    assert a.caption == "Blue hour in Lisbon 🌊 #travel"
    assert a.likes == 42
    assert a.taken_at == datetime(2024, 1, 1, 10, 0, tzinfo=timezone.utc)
    # The carousel keeps its FIRST photo only.
    assert b.image.read_bytes() == (folder / "2024-01-02_11-30-00_UTC_1.jpg").read_bytes()
    assert b.caption == "Carousel!\nSlide 1 is the one"
    (f,) = [p for code, p in posts.items() if code not in ("AAA111", "BBB222")]
    assert f.shortcode == importers.derive_shortcode("natgeo", "2024-01-06_21-15-09_UTC")
    assert f.taken_at == datetime(2024, 1, 6, 21, 15, 9, tzinfo=timezone.utc)
    assert f.image.parent.name == "natgeo"


def test_parent_folder_of_several_accounts(tmp_path):
    instaloader_folder(tmp_path / "in", "natgeo")
    other = tmp_path / "in" / "nasa"
    jpeg(other / "2024-02-01_00-00-00_UTC.jpg")
    (other / "2024-02-01_00-00-00_UTC.txt").write_text("Launch day 🚀")
    result, _ = do_import(tmp_path / "in")
    assert result.accounts == {"natgeo": 3, "nasa": 1}


def test_account_from_metadata_beats_folder_and_option(tmp_path):
    d = tmp_path / "downloads"
    jpeg(d / "2024-01-01_10-00-00_UTC.jpg")
    write_meta(d / "2024-01-01_10-00-00_UTC.json.xz", node("META01", "real.owner", "From meta"))
    _, posts = do_import(d, account="fallback")
    assert posts["META01"].account == "real.owner"
    assert posts["META01"].caption == "From meta"  # no .txt: the caption comes from metadata


def test_account_option_when_folder_name_is_not_an_account(tmp_path):
    d = tmp_path / "My Photos"
    jpeg(d / "2024-01-01_10-00-00_UTC.jpg")
    (d / "2024-01-01_10-00-00_UTC.txt").write_text("hello")
    result, _ = do_import(d)
    assert result.skipped == {"no account": 1}
    result, posts = do_import(d, account="me.myself")
    assert [p.account for p in posts.values()] == ["me.myself"]


def test_metadata_account_that_escapes_is_never_used(tmp_path, instacap_home):
    d = tmp_path / "natgeo"
    jpeg(d / "2024-01-01_10-00-00_UTC.jpg")
    write_meta(d / "2024-01-01_10-00-00_UTC.json.xz", node("ESC001", "../../evil", "x"))
    _, posts = do_import(d)
    assert posts["ESC001"].account == "natgeo"
    assert not (instacap_home.parent / "evil").exists()
    assert all(
        p.resolve().is_relative_to(instacap_home.resolve()) for p in instacap_home.rglob("*")
    )


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"not xz at all", "not a valid .xz file"),
        (lzma.compress(b"{broken json"), "not valid JSON"),
    ],
)
def test_bad_metadata_is_skipped_with_reason(tmp_path, payload, why):
    d = tmp_path / "natgeo"
    jpeg(d / "2024-01-01_10-00-00_UTC.jpg")
    (d / "2024-01-01_10-00-00_UTC.txt").write_text("ok")
    (d / "2024-01-01_10-00-00_UTC.json.xz").write_bytes(payload)
    jpeg(d / "2024-01-02_10-00-00_UTC.jpg")
    (d / "2024-01-02_10-00-00_UTC.txt").write_text("fine")
    result, _ = do_import(d)
    assert result.imported == 1 and result.skipped == {"bad metadata": 1}
    assert why in result.problems[0] and "2024-01-01_10-00-00_UTC.json.xz" in result.problems[0]


def test_metadata_fields_of_unexpected_types_count_as_absent(tmp_path):
    """Valid JSON with odd field types (hand-edited, another tool's dump) must not crash."""
    d = tmp_path / "natgeo"
    jpeg(d / "2024-01-01_10-00-00_UTC.jpg")
    odd = {
        "shortcode": "ODD001",
        "owner": "natgeo",
        "edge_media_to_caption": ["not", "a", "dict"],
        "edge_media_preview_like": 7,
        "caption": "From the caption field",
    }
    write_meta(d / "2024-01-01_10-00-00_UTC.json.xz", {"node": odd, "instaloader": "4.16"})
    result, posts = do_import(d)
    assert result.imported == 1, result.problems
    assert posts["ODD001"].caption == "From the caption field"
    assert posts["ODD001"].account == "natgeo" and posts["ODD001"].likes is None


@pytest.mark.parametrize("which", ["txt", "json.xz"])
def test_unreadable_caption_or_metadata_file_skips_only_that_post(tmp_path, which):
    """A dangling link (or a file without read permission) must not stop the whole import."""
    d = tmp_path / "natgeo"
    jpeg(d / "2024-01-01_10-00-00_UTC.jpg")
    (d / "2024-01-01_10-00-00_UTC.txt").write_text("first")
    jpeg(d / "2024-01-02_10-00-00_UTC.jpg")
    (d / "2024-01-02_10-00-00_UTC.txt").write_text("second")
    (d / f"2024-01-02_10-00-00_UTC.{which}").unlink(missing_ok=True)
    (d / f"2024-01-02_10-00-00_UTC.{which}").symlink_to(tmp_path / "gone")
    jpeg(d / "2024-01-03_10-00-00_UTC.jpg")
    (d / "2024-01-03_10-00-00_UTC.txt").write_text("third")
    result, posts = do_import(d)
    assert sorted(p.caption for p in posts.values()) == ["first", "third"]
    assert result.skipped == {"unreadable": 1}
    assert f"2024-01-02_10-00-00_UTC.{which}" in result.problems[0]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"this is a text file, not a photo", "not an image"),
        ("truncated", "corrupt"),
        ("corrupt", "corrupt"),
    ],
)
def test_bad_photos_are_skipped_and_counted(tmp_path, content, reason):
    d = tmp_path / "natgeo"
    good = jpeg(d / "2024-01-01_10-00-00_UTC.jpg", size=(64, 64))
    (d / "2024-01-01_10-00-00_UTC.txt").write_text("good")
    bad = d / "2024-01-02_10-00-00_UTC.jpg"
    if content == "truncated":
        content = good[: len(good) // 2]
    elif content == "corrupt":
        content = good[:200] + bytes(range(256)) * 4 + good[-2:]
    bad.write_bytes(content)
    (d / "2024-01-02_10-00-00_UTC.txt").write_text("bad photo")
    result, posts = do_import(d)
    assert result.imported == 1
    assert result.skipped == {reason: 1}
    assert [p.caption for p in posts.values()] == ["good"]
    assert "2024-01-02_10-00-00_UTC.jpg" in result.problems[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Olá ☕ ça va".encode("utf-16"), "Olá ☕ ça va"),  # UTF-16 with BOM
        ("Grüße 👋🏽".encode("utf-8-sig"), "Grüße 👋🏽"),
        ("Café crème".encode("cp1252"), "Café crème"),  # a legacy 8-bit file
        (b"nul\x00 bytes\x00 gone", "nul bytes gone"),
        ("👨‍👩‍👧‍👦🔥🔥".encode(), "👨‍👩‍👧‍👦🔥🔥"),  # emoji only: kept as a caption
        (b"bell\x07 and esc\x1b[0m\r\nnext line\t!", "bell and esc[0m\nnext line !"),
        ("e\u0301 composed".encode(), "\u00e9 composed"),  # NFC
        ("שלום עולם".encode(), "שלום עולם"),  # RTL kept as is
        (b"  \x00\n\t ", None),  # nothing left: counts as no caption
    ],
)
def test_caption_files_in_odd_encodings(tmp_path, raw, expected):
    d = tmp_path / "natgeo"
    jpeg(d / "2024-01-01_10-00-00_UTC.jpg")
    (d / "2024-01-01_10-00-00_UTC.txt").write_bytes(raw)
    result, posts = do_import(d)
    if expected is None:
        assert result.skipped == {"no caption": 1}
    else:
        assert [p.caption for p in posts.values()] == [expected]


# -- instalooter ---------------------------------------------------------------------------------


def test_instalooter_folder(tmp_path):
    d = tmp_path / "looted"
    jpeg(d / "2154872563.jpg")
    looter_node = node("CxYz_-1", "nasa", "Saturn, up close 🪐")["node"]
    (d / "2154872563.json").write_text(json.dumps(looter_node))  # instalooter dumps the node itself
    jpeg(d / "2154872564.jpg")
    (d / "2154872564.json").write_text(
        json.dumps({**looter_node, "shortcode": "VID", "is_video": True})
    )
    jpeg(d / "2154872565.jpg")  # no dump, no caption
    jpeg(d / "2154872566.jpg")
    (d / "2154872566.txt").write_text("Sidecar caption")
    result, posts = do_import(d, account="nasa")
    assert result.imported == 2
    assert result.skipped == {"video": 1, "no caption": 1}
    assert posts["CxYz_-1"].caption == "Saturn, up close 🪐"
    assert posts["CxYz_-1"].source == "instalooter"
    # Metadata names the account; without metadata the folder's name comes before --account.
    assert posts["CxYz_-1"].account == "nasa"
    assert {p.account for p in posts.values()} == {"nasa", "looted"}


# -- tables --------------------------------------------------------------------------------------


def test_csv_table(tmp_path):
    jpeg(tmp_path / "data" / "img" / "a.jpg")
    jpeg(tmp_path / "data" / "img" / "b.png")
    table = tmp_path / "data" / "posts.csv"
    table.write_text(
        "image,caption,account,timestamp\n"
        'img/a.jpg,"Sunny, with a comma\nand a newline ☀️",alice,2024-03-01T10:00:00Z\n'
        "img/b.png,Second,,1709287200\n"
        "img/missing.jpg,Gone,alice,\n"
        "img/a.jpg,,alice,\n",
        encoding="utf-8",
    )
    result, posts = do_import(table, account="bob")
    assert result.imported == 2
    assert result.skipped == {"missing": 1, "no caption": 1}
    by_caption = {p.caption: p for p in posts.values()}
    first = by_caption["Sunny, with a comma\nand a newline ☀️"]
    assert first.account == "alice" and first.source == "table"
    assert first.taken_at == datetime(2024, 3, 1, 10, tzinfo=timezone.utc)
    assert by_caption["Second"].account == "bob"  # empty cell: --account
    assert by_caption["Second"].image.suffix == ".png"
    assert any("missing.jpg" in p for p in result.problems)


def test_jsonl_table_with_a_bad_line(tmp_path):
    jpeg(tmp_path / "x.jpg")
    table = tmp_path / "posts.jsonl"
    rows = [
        {"image_path": "x.jpg", "text": "From JSONL 🎉", "username": "carol", "shortcode": "JS1"},
        "not json {",
        {"image_path": "", "text": "no image"},
    ]
    table.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows), encoding="utf-8"
    )
    result, posts = do_import(table)
    assert posts["JS1"].account == "carol" and posts["JS1"].caption == "From JSONL 🎉"
    assert result.skipped == {"bad row": 2}
    assert any("posts.jsonl:2" in p for p in result.problems)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_tables_in_each_encoding(tmp_path, encoding, suffix):
    """UTF-8 tables are read a line at a time from their bytes, the others decoded whole: the
    posts are the same."""
    jpeg(tmp_path / "x.jpg")
    rows = [("E1", "Café crème", "ann"), ("E2", 'two\nlines, "quoted"', "ann")]
    if suffix == ".csv":
        text = write_table(tmp_path / "t.csv", rows).read_text(encoding="utf-8")
    else:
        text = "".join(
            json.dumps({"image": "x.jpg", "caption": c, "account": a, "shortcode": s}) + "\n"
            for s, c, a in rows
        )
    table = tmp_path / f"table{suffix}"
    table.write_bytes(text.encode(encoding))
    result, posts = do_import(table)
    assert result.imported == 2
    assert {s: p.caption for s, p in posts.items()} == {s: c for s, c, _ in rows}


def test_semicolon_csv_with_bom(tmp_path):
    jpeg(tmp_path / "x.jpg")
    table = tmp_path / "t.csv"
    table.write_bytes("\ufeffPhoto;Caption\nx.jpg;Semikolon 🇩🇪\n".encode())
    _, posts = do_import(table, account="dana")
    assert [p.caption for p in posts.values()] == ["Semikolon 🇩🇪"]


def test_tsv_with_quoted_header_and_windows_line_ends(tmp_path):
    jpeg(tmp_path / "x.jpg")
    table = tmp_path / "t.tsv"
    # A header cell with a comma (quoted) must not make the comma the delimiter.
    table.write_bytes(
        '\ufeffimage\tcaption\t"notes, misc"\r\nx.jpg\t"Tab\there, ""quoted"", done"\ta,b\r\n'.encode()
    )
    result, posts = do_import(table, account="erin")
    assert not result.skipped
    assert [p.caption for p in posts.values()] == ['Tab here, "quoted", done']


def test_excel_sep_line_names_the_delimiter(tmp_path):
    jpeg(tmp_path / "x.jpg")
    table = tmp_path / "t.csv"
    table.write_text('sep=;\nimage;caption;account\nx.jpg;"One, two; three";fay\n')
    _, posts = do_import(table)
    assert [(p.caption, p.account) for p in posts.values()] == [("One, two; three", "fay")]


def test_row_with_an_unquoted_delimiter_is_a_bad_row_not_an_invented_account(tmp_path):
    jpeg(tmp_path / "x.jpg")
    table = tmp_path / "t.csv"
    table.write_text(
        "image,caption,account\nx.jpg,Hello, world,gus\n\nx.jpg,Fine,gus\nx.jpg,Short\n"
    )
    result, posts = do_import(table)
    assert [(p.caption, p.account) for p in posts.values()] == [("Fine", "gus")]
    assert result.skipped == {"bad row": 2}
    assert result.problems[0] == (
        "t.csv:2: has 4 fields but the header names 3; put captions that contain a comma or a "
        "line break in double quotes"
    )
    assert result.problems[1].startswith("t.csv:5: has 2 fields")  # line numbers count blanks


def test_table_row_with_escaping_account_is_skipped(tmp_path, instacap_home):
    jpeg(tmp_path / "x.jpg")
    table = tmp_path / "t.csv"
    table.write_text("image,caption,account\nx.jpg,hi,../../etc\n")
    result, posts = do_import(table)
    assert result.skipped == {"invalid account": 1} and not posts
    assert not (instacap_home / "etc").exists() and not (instacap_home.parent / "etc").exists()


# -- every caption arrives exactly: random captions through csv.writer and JSONL -------------------

# Pieces a real caption is made of, weighted towards what breaks a table reader: quotes (single,
# doubled, at either end), the three delimiters, line breaks of every kind, emoji with skin tones,
# ZWJ sequences and flags, right-to-left text, combining marks and separators Unicode treats as
# line breaks.
CAPTION_PIECES = [
    '"', '""', '"quoted"', "'", ",", ";", "\t", "\n", "\r\n", "\r", " ", "  ",
    "word", "Sunny, with a comma", "a;b", "#travel", "@friend", "https://x.example/?a=1,2",
    "👍🏽", "👩\u200d👩\u200d👧\u200d👦", "🇩🇪", "☀️", "שלום עולם", "مرحبا بالعالم", "e\u0301",
    "n\u0303", "\u2028", "\u0085", "\ufeff", "\x00", "ß", "Ω",
]  # fmt: skip
captions = (
    st.lists(
        st.one_of(st.sampled_from(CAPTION_PIECES), st.text(max_size=3)), min_size=1, max_size=12
    )
    .map("".join)
    .filter(lambda c: importers.clean_caption(c) != "")
)
accounts = st.from_regex(r"[A-Za-z0-9._]{1,30}", fullmatch=True)
# A column after the caption whose name needs quoting in every dialect, holding caption-like text:
# a caption fragment spilling into the next column would show up as a wrong account or note.
NOTE = 'notes, "x"; y\tz'
table_rows = st.lists(st.tuples(captions, accounts, captions), min_size=1, max_size=5)


@pytest.mark.parametrize(
    "kind", [",", ";", "\t", "jsonl"], ids=["comma", "semicolon", "tab", "jsonl"]
)
@settings(max_examples=15, deadline=None)
@given(
    rows=table_rows,
    columns=st.permutations(["image", "caption", "account", "shortcode", NOTE]),
    line_end=st.sampled_from(["\r\n", "\n"]),
    bom=st.booleans(),
)
def test_random_captions_are_imported_exactly(kind, rows, columns, line_end, bom, tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")
    (folder / "p.jpg").write_bytes(PHOTO)
    records = [
        {"image": "p.jpg", "caption": cap, "account": acc, "shortcode": f"S{i}", NOTE: note}
        for i, (cap, acc, note) in enumerate(rows)
    ]
    if kind == "jsonl":
        table = folder / "posts.jsonl"
        # Column order as drawn; raw U+2028/U+0085 inside strings, as json.dumps writes them.
        text = "".join(
            json.dumps({c: r[c] for c in columns}, ensure_ascii=False) + line_end for r in records
        )
    else:
        table = folder / ("posts.tsv" if kind == "\t" else "posts.csv")
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, delimiter=kind, lineterminator=line_end)
        writer.writerow(columns)
        writer.writerows([r[c] for c in columns] for r in records)
        text = buf.getvalue()
    table.write_bytes((("\ufeff" if bom else "") + text).encode())

    with PostStore(folder / "store") as store:
        result = importers.run(store, importers.scan([table]))
        stored = {p.shortcode: (p.caption, p.account) for p in store.posts()}
    expected = {
        f"S{i}": (importers.clean_caption(cap), acc) for i, (cap, acc, _) in enumerate(rows)
    }
    assert result.problems == [] and not result.skipped
    assert stored == expected


# -- importing again: changed posts are updated -------------------------------------------------


def write_table(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A CSV of (shortcode, caption, account) rows, all showing the same photo x.jpg."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["image", "caption", "account", "shortcode"])
    writer.writerows(["x.jpg", cap, acc, code] for code, cap, acc in rows)
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    return path


def test_reimport_updates_changed_captions_and_accounts(tmp_path, instacap_home):
    photo = jpeg(tmp_path / "x.jpg")
    table = tmp_path / "t.csv"
    rows = [("A1", 'She said ""hi', "ann"), ("B2", "Same", "ann"), ("C3", "Moves", "word")]
    write_table(table, rows)
    assert runner.invoke(app, ["import", str(table)]).exit_code == 0
    moved_from = instacap_home / "posts" / "word" / "C3.jpg"
    assert moved_from.is_file()

    write_table(table, [("A1", 'She said "hi"', "ann"), rows[1], ("C3", "Moves", "ben")])
    r = runner.invoke(app, ["import", str(table)])
    assert r.exit_code == 0, r.output
    assert (
        "Imported 0 new posts; updated 2 whose caption or account changed; 1 already stored."
        in flat(r.output)
    )
    with PostStore.open() as store:
        posts = {p.shortcode: p for p in store.posts()}
        assert store.accounts() == {"ann": 2, "ben": 1}
    assert posts["A1"].caption == 'She said "hi"'
    # The photo moved to the new account's folder, bytes unchanged, no copy left behind.
    assert posts["C3"].image == instacap_home / "posts" / "ben" / "C3.jpg"
    assert posts["C3"].image.read_bytes() == photo and not moved_from.exists()
    assert len([p for p in (instacap_home / "posts").rglob("*") if p.is_file()]) == 3

    write_table(table, [rows[0], rows[1], ("C3", "Moves", "ben")])  # A1 changes back
    r = runner.invoke(app, ["import", str(table), "--json"])
    data = json.loads(r.stdout)
    assert (data["imported"], data["updated"], data["already_stored"]) == (0, 1, 2)
    r = runner.invoke(app, ["import", str(table), "--json"])
    assert json.loads(r.stdout)["updated"] == 0  # nothing changed: nothing written


def test_same_post_twice_in_one_import_keeps_the_first(tmp_path):
    jpeg(tmp_path / "x.jpg")
    rows = [("D1", "first", "ann"), ("D1", "second", "ann"), ("D1", "first", "ann")]
    table = write_table(tmp_path / "t.csv", rows)
    for _ in range(2):  # a rerun gives the same store and the same counts
        result, posts = do_import(table)
        assert posts["D1"].caption == "first" and result.updated == 0
        assert result.skipped == {"duplicate": 1}
        assert result.problems == [
            "t.csv:3: same shortcode D1 as t.csv:2 but another caption or account; the first is "
            "kept"
        ]


def test_update_restores_a_photo_file_that_went_missing(tmp_path, instacap_home):
    with PostStore.open() as store:
        store.add(NewPost("E1", "ann", None, "old", "table"), b"first bytes")
        stored = store.get("E1")
        assert stored is not None
        stored.image.unlink()
        assert store.update(NewPost("E1", "ben", None, "new", "table"), b"new bytes")
        post = store.get("E1")
        assert post is not None and (post.account, post.caption) == ("ben", "new")
        assert post.image.read_bytes() == b"new bytes"
        assert not store.update(NewPost("E1", "ben", None, "new", "table"))  # unchanged
        assert not store.update(NewPost("nope", "ben", None, "new", "table"))  # not stored


class _FullOnUpdate:
    """The store's database, except that an UPDATE meets a full disk."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, *args):
        if sql.startswith("UPDATE"):
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.db, name)


def test_update_on_a_full_disk_keeps_the_old_post_and_no_copy(instacap_home, monkeypatch):
    with PostStore.open() as store:
        store.add(NewPost("G1", "ann", None, "old", "table"), b"photo")
        before = snapshot(instacap_home)
        moved = NewPost("G1", "ben", None, "new", "table")

        def no_space(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        with monkeypatch.context() as patch:  # the moved photo cannot be written
            patch.setattr(os, "fsync", no_space)
            with pytest.raises(DiskFull):
                store.update(moved)
        assert snapshot(instacap_home) == before
        real_db = store._db
        store._db = _FullOnUpdate(real_db)  # the photo is written, the row cannot be
        with pytest.raises(DiskFull):
            store.update(moved)
        store._db = real_db
        assert snapshot(instacap_home) == before


def test_a_full_disk_in_a_later_batch_takes_back_the_earlier_batches(
    tmp_path, instacap_home, monkeypatch
):
    jpeg(tmp_path / "x.jpg")
    table = write_table(tmp_path / "t.csv", [(f"B{i}", f"caption {i}", "ann") for i in range(10)])
    with PostStore.open() as store:
        store.add(NewPost("K1", "ann", None, "kept", "table"), b"photo")
    before = snapshot(instacap_home)
    real_add = PostStore.add_many
    calls = {"n": 0}

    def fills_up(self, items):
        calls["n"] += 1
        if calls["n"] == 3:  # batches 1 and 2 (8 posts) are committed by then
            raise DiskFull("The disk is full.")
        return real_add(self, items)

    monkeypatch.setattr("instacap.importers.BATCH", 4)
    monkeypatch.setattr(PostStore, "add_many", fills_up)
    with PostStore.open() as store, pytest.raises(DiskFull):
        importers.run(store, importers.scan([table]))
    assert calls["n"] == 3 and snapshot(instacap_home) == before


def test_batches_store_each_new_post_once(tmp_path, instacap_home, monkeypatch):
    jpeg(tmp_path / "x.jpg")
    rows = [(f"R{i}", f"caption {i}", "ann") for i in range(7)]
    table = write_table(tmp_path / "t.csv", [*rows, rows[2], ("R9", "nine", "bob")])
    monkeypatch.setattr("instacap.importers.BATCH", 3)  # a repeat both in and across batches
    result, posts = do_import(table)
    assert (result.imported, result.already) == (8, 1)
    assert sorted(posts) == [*(f"R{i}" for i in range(7)), "R9"]
    assert all(p.image.is_file() for p in posts.values())
    again, _ = do_import(table)
    assert (again.imported, again.already) == (0, 9)


def test_a_broken_last_row_stores_nothing_of_the_rows_before_it(
    tmp_path, instacap_home, filled, monkeypatch
):
    """Tables are read row by row while storing, but read through once before: a row that
    breaks the CSV at the very end stops the import before its first batch."""
    jpeg(tmp_path / "x.jpg")
    table = write_table(tmp_path / "t.csv", [(f"L{i}", f"caption {i}", "ann") for i in range(9)])
    with open(table, "a", encoding="utf-8") as fh:
        fh.write('x.jpg,"' + "y" * 200_000 + '",ann,L9\n')  # over csv's field size limit
    monkeypatch.setattr("instacap.importers.BATCH", 2)
    _fails([table], "is not a readable CSV file", instacap_home, filled)
    table.write_text(table.read_text(encoding="utf-8").rsplit("x.jpg,", 1)[0], encoding="utf-8")
    result, posts = do_import(table)
    assert result.imported == 9 and len(posts) == 10  # the same table, fixed, imports


def test_updated_caption_changes_the_data_set_fingerprint(tmp_path):
    from instacap.config import PrepConfig
    from instacap.dataset import fingerprint

    jpeg(tmp_path / "x.jpg")
    table = write_table(tmp_path / "t.csv", [("F1", "one", "ann"), ("F2", "two", "ann")])

    def current() -> str:
        with PostStore.open() as store:
            return fingerprint(list(store.posts()), "some-encoder", PrepConfig())

    do_import(table)
    before = current()
    do_import(table)
    assert current() == before  # importing the same table again: prep has nothing to rebuild
    write_table(table, [("F1", "one!", "ann"), ("F2", "two", "ann")])
    do_import(table)
    assert current() != before  # prep rebuilds the data set with the new caption


# -- bad input: one sentence, store unchanged ---------------------------------------------------


def flat(text: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(text.split())


def _fails(args, message, instacap_home, before):
    result = runner.invoke(app, ["import", *map(str, args)])
    assert result.exit_code == 1, result.output
    assert message in flat(result.output)
    assert "Traceback" not in result.output
    assert snapshot(instacap_home) == before
    return result


def test_nonexistent_path(tmp_path, instacap_home, filled):
    _fails([tmp_path / "nope"], "does not exist", instacap_home, filled)


def test_empty_folder(tmp_path, instacap_home, filled):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    _fails([tmp_path / "empty"], "is empty", instacap_home, filled)


def test_folder_without_posts(tmp_path, instacap_home, filled):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.docx").write_bytes(b"PK")
    (tmp_path / "docs" / "readme.txt").write_text("hi")
    _fails([tmp_path / "docs"], "holds no posts instacap recognises", instacap_home, filled)


def test_one_bad_path_among_good_ones_changes_nothing(tmp_path, instacap_home, filled):
    good = instaloader_folder(tmp_path / "in")
    _fails([good, tmp_path / "typo"], "does not exist", instacap_home, filled)


def test_csv_missing_columns(tmp_path, instacap_home, filled):
    table = tmp_path / "t.csv"
    table.write_text("image,description\nx.jpg,hello\n")
    r = _fails([table], "lacks the column caption", instacap_home, filled)
    assert "description" in flat(r.output)  # names what it found


def test_csv_header_without_delimiter(tmp_path, instacap_home, filled):
    table = tmp_path / "t.csv"
    table.write_text("image|caption\nx.jpg|hello\n")
    r = _fails(
        [table], "has no comma, semicolon or tab between column names", instacap_home, filled
    )
    assert "'image|caption'" in flat(r.output) and "image,caption" in flat(r.output)


def test_csv_without_rows(tmp_path, instacap_home, filled):
    table = tmp_path / "t.csv"
    table.write_text("image,caption\n")
    _fails([table], "has no rows", instacap_home, filled)


def test_unsupported_file(tmp_path, instacap_home, filled):
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    _fails([tmp_path / "x.xlsx"], "neither a folder nor a .csv/.jsonl file", instacap_home, filled)


def test_invalid_account_option(tmp_path, instacap_home, filled):
    folder = instaloader_folder(tmp_path / "in")
    r = runner.invoke(app, ["import", str(folder), "--account", "../../etc"])
    assert r.exit_code == 1 and "not a valid Instagram account name" in flat(r.output)
    assert snapshot(instacap_home) == filled


def test_rows_pointing_to_missing_files(tmp_path, instacap_home, filled):
    table = tmp_path / "t.csv"
    table.write_text("image,caption\ngone.jpg,hello\nalso-gone.jpg,hi\n")
    r = _fails([table, "--account", "me"], "Nothing was imported", instacap_home, filled)
    assert "check the image paths" in flat(r.output) and "gone.jpg" in r.output


def test_problem_file_names_are_shown_literally(tmp_path, instacap_home, filled):
    table = tmp_path / "t.csv"
    table.write_text("image,caption\n[bold]gone[/].jpg,hello\n")
    r = _fails([table, "--account", "me"], "Nothing was imported", instacap_home, filled)
    assert "[bold]gone[/].jpg" in r.output  # Rich markup in a file name is not interpreted


def test_only_corrupt_photos(tmp_path, instacap_home, filled):
    d = tmp_path / "natgeo"
    d.mkdir()
    (d / "2024-01-01_10-00-00_UTC.jpg").write_bytes(b"")
    (d / "2024-01-01_10-00-00_UTC.txt").write_text("x")
    r = _fails([d], "Nothing was imported", instacap_home, filled)
    assert "empty file" in flat(r.output)


def test_only_bad_metadata(tmp_path, instacap_home, filled):
    d = tmp_path / "natgeo [old]"
    d.mkdir()
    jpeg(d / "2024-01-01_10-00-00_UTC.jpg")
    (d / "2024-01-01_10-00-00_UTC.txt").write_text("x")
    (d / "2024-01-01_10-00-00_UTC.json.xz").write_bytes(b"\xfd7zXZ\x00 truncated")
    r = _fails([d, "--account", "me"], "Nothing was imported", instacap_home, filled)
    assert "damaged" in flat(r.output)
    assert (
        "[old]/2024-01-01_10-00-00_UTC.jpg: 2024-01-01_10-00-00_UTC.json.xz is not a valid .xz file"
        in flat(r.output)
    )


def test_unwritable_cache(tmp_path, monkeypatch):
    folder = instaloader_folder(tmp_path / "in")
    if os.geteuid() == 0:

        def deny(*a, **k):
            raise CacheError(
                "The folder x is not writable; point INSTACAP_HOME at a writable folder."
            )

        monkeypatch.setattr("instacap.paths.ensure_dir", deny)
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        monkeypatch.setenv("INSTACAP_HOME", str(locked / "home"))
    r = runner.invoke(app, ["import", str(folder)])
    assert r.exit_code == 1 and "INSTACAP_HOME" in flat(r.output) and "Traceback" not in r.output


def test_interrupted_import_resumes_without_duplicates(tmp_path, monkeypatch, instacap_home):
    folder = instaloader_folder(tmp_path / "in")
    real_add = PostStore.add_many
    calls = {"n": 0}

    def flaky_add(self, items):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_add(self, items)

    monkeypatch.setattr("instacap.importers.BATCH", 1)  # one post per batch: stop in the second
    monkeypatch.setattr(PostStore, "add_many", flaky_add)
    r = runner.invoke(app, ["import", str(folder)])
    assert r.exit_code == 130 and "rerun" in r.output
    with PostStore.open() as store:
        assert store.count() == 1
    monkeypatch.setattr(PostStore, "add_many", real_add)
    r = runner.invoke(app, ["import", str(folder), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["imported"] == 2 and data["already_stored"] == 1
    r = runner.invoke(app, ["import", str(folder), "--json"])
    assert json.loads(r.stdout)["imported"] == 0
    with PostStore.open() as store:
        assert store.count() == 3
    images = [p for p in (instacap_home / "posts").rglob("*") if p.is_file()]
    assert len(images) == 3  # no orphan or duplicate files


# -- the command --------------------------------------------------------------------------------


def test_cli_summary_and_json(tmp_path):
    folder = instaloader_folder(tmp_path / "in")
    r = runner.invoke(app, ["import", str(folder)])
    assert r.exit_code == 0, r.output
    assert "Imported 3 new posts (natgeo 3)" in flat(r.output)
    assert "Skipped 3: video 2, no caption 1." in flat(r.output)
    r = runner.invoke(app, ["import", str(folder), "--json"])
    data = json.loads(r.stdout)
    assert data == {
        "imported": 0,
        "already_stored": 3,
        "updated": 0,
        "skipped": 3,
        "skipped_by_reason": {"video": 2, "no caption": 1},
        "accounts": {},
        "problems": [],
        "posts_in_store": 3,
    }


def test_library_scan_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        importers.scan([tmp_path / "missing"])


def test_console_script_imports(tmp_path, instacap_home):
    folder = instaloader_folder(tmp_path / "in")
    exe = Path(sys.executable).with_name("instacap")
    env = {**os.environ, "INSTACAP_HOME": str(instacap_home)}
    proc = subprocess.run(
        [str(exe), "import", str(folder), "--json"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["imported"] == 3
    proc = subprocess.run(
        [str(exe), "import", str(tmp_path / "nope")], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 1
    assert "does not exist" in flat(proc.stderr) and "Traceback" not in proc.stderr
