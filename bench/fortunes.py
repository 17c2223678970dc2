"""Real short English text for the model benchmarks: Debian's `fortunes` package as captions.

Each fortune-cookie file (`/usr/share/games/fortunes/<topic>`, entries separated by `%` lines) is
split into caption-sized pieces: whitespace collapsed, cut at sentence ends into pieces of at most
140 characters (longer sentences at the last space). The topic becomes the account. The pieces go
through the ordinary import path: a CSV with a placeholder photo and a shortcode per row, read by
`instacap import`, then `instacap prep --encoder none` (text only).

    .venv/bin/python bench/fortunes.py OUT_DIR        # writes OUT_DIR/fortunes.csv and photo.jpg
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

FORTUNES = Path("/usr/share/games/fortunes")
SKIP = {"art", "ascii-art"}  # pictures drawn in characters, not text
MAX_CHARS = 140
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def pieces(text: str) -> list[str]:
    """One fortune -> caption-sized pieces (sentences packed up to MAX_CHARS)."""
    words = " ".join(text.split())
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE.split(words):
        while len(sentence) > MAX_CHARS:  # a very long sentence: cut at the last space
            cut = sentence.rfind(" ", 0, MAX_CHARS)
            cut = cut if cut > 0 else MAX_CHARS
            out.append(sentence[:cut])
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > MAX_CHARS:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return [p for p in out if p]


def captions(root: Path = FORTUNES) -> list[tuple[str, str]]:
    """(account, caption) of every piece of every fortune file, in a fixed order."""
    rows = []
    for path in sorted(root.iterdir()):
        if path.suffix in (".dat", ".u8") or path.name in SKIP or not path.is_file():
            continue
        account = re.sub(r"[^A-Za-z0-9._]", "_", path.name)
        text = path.read_text(encoding="utf-8", errors="replace")
        for entry in re.split(r"^%$", text, flags=re.M):
            rows += [(account, p) for p in pieces(entry)]
    return rows


def write(out: Path) -> Path:
    """OUT/fortunes.csv (+ OUT/photo.jpg, the placeholder every row points at)."""
    from PIL import Image

    if not FORTUNES.is_dir():
        raise SystemExit("Debian's fortunes are not installed: apt-get install fortunes")
    out.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (128, 128, 128)).save(out / "photo.jpg")
    table = out / "fortunes.csv"
    with table.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption", "account", "shortcode"])
        for i, (account, caption) in enumerate(captions()):
            w.writerow(["photo.jpg", caption, account, f"fortune{i:06d}"])
    return table


if __name__ == "__main__":
    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else "fortunes-data")))
