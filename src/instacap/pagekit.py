"""The pieces of instacap's HTML pages: the document and its CSS, the training curves as inline
SVG, tables, captions as coloured spans, and contact-sheet cards with inline thumbnails.

Everything here returns HTML text and escapes every string it is given. No piece needs JavaScript
or anything outside the file: photos are JPEG `data:` URIs, the chart is drawn here. `report`
puts the pieces together into the pages the commands write.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instacap import __version__, highlight
from instacap.errors import BadImage

if TYPE_CHECKING:  # pragma: no cover
    from instacap.sampling import Caption

THUMB = 224  # longest side of the inline thumbnails, in pixels (the demo photos' own size)


@dataclass(frozen=True)
class Card:
    """One photo of a contact sheet: its real caption (None for the user's own photos) and the
    generated ones, best first."""

    photo: Path | None
    title: str
    note: str = ""
    real: str | None = None
    generated: tuple[Caption, ...] = ()


def thumbnail(path: Path | str, size: int = THUMB) -> str | None:
    """A data: URI of `path` as a JPEG of at most `size` pixels a side; None when it cannot be read
    (the card then says so instead of showing a broken image)."""
    from PIL import Image

    from instacap import images

    try:
        img = images.open_rgb(Path(path), draft=(size, size))
    except BadImage:
        return None
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def caption_html(tokens: Sequence[str] | str, probs: Sequence[float] | None = None) -> str:
    """A caption as escaped HTML spans: class `hashtag`, `mention`, `url`, `emoji`, and `unsure` /
    `very-unsure` where the model gave the token a low probability."""
    out = []
    for piece in highlight.pieces(tokens, probs):
        classes = [c.replace(" ", "-") for c in (piece.kind, piece.doubt) if c]
        text = html.escape(piece.text)
        out.append(f'<span class="{" ".join(classes)}">{text}</span>' if classes else text)
    return "".join(out)


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round values (1, 2 or 5 times a power of ten apart) covering lo..hi."""
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    v = first
    while v < hi + step * 0.999:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:.0f}"


@dataclass(frozen=True)
class _Point:
    epoch: int
    train_loss: float  # nats per token, as training reports it
    val_bpc: float
    best: bool

    @property
    def train_bits(self) -> float:
        return self.train_loss / math.log(2)


@dataclass(frozen=True)
class _Frame:
    """The chart's plot area in SVG units and the data range it shows."""

    width: int
    height: int
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    left: int = 52
    right: int = 18
    top: int = 14
    bottom: int = 42

    def x(self, epoch: float) -> float:
        span = self.width - self.left - self.right
        return self.left + (epoch - self.x_lo) / (self.x_hi - self.x_lo) * span

    def y(self, value: float) -> float:  # SVG y grows downwards: low values near the bottom
        span = self.height - self.top - self.bottom
        return self.top + (self.y_hi - value) / (self.y_hi - self.y_lo) * span


def curves_svg(history: Sequence[Mapping[str, Any]], width: int = 640, height: int = 300) -> str:
    """Train loss and validation bpc per epoch as an inline SVG line chart.

    The train loss (nats per token) is drawn in bits per character (÷ ln 2), the unit of the
    validation bpc, so the two lines share one axis and the gap between them is overfitting.
    Hovering a point shows its values (SVG <title>, no script).
    """
    rows = [
        _Point(int(h["epoch"]), float(h["train_loss"]), float(h["val_bpc"]), bool(h.get("best")))
        for h in history
        if _finite(h.get("train_loss")) and _finite(h.get("val_bpc"))
    ]
    if not rows:
        return '<p class="muted">No finished epoch yet: the curves appear after the first one.</p>'
    epochs = [r.epoch for r in rows]
    x_lo, x_hi = (min(epochs) - 0.5, max(epochs) + 0.5) if len(rows) == 1 else (1, max(epochs))
    values = [v for r in rows for v in (r.train_bits, r.val_bpc)]
    ticks = _nice_ticks(min(values), max(values))
    frame = _Frame(width, height, x_lo, x_hi, ticks[0], ticks[-1])
    best = [r.epoch for r in rows if r.best]
    svg = (
        f'<svg viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg" '
        'aria-label="Training curves: train loss and validation bits per character by epoch">'
        + _axes(frame, ticks, epochs)
        + (_best_line(frame, best[-1]) if best else "")
        + _lines(frame, rows)
        + "</svg>"
    )
    legend = (
        '<p class="legend"><span class="key train"></span>train loss '
        '<span class="key val"></span>validation bpc'
        + ('<span class="key best"></span>best epoch (the model kept)' if best else "")
        + "</p>"
    )
    return legend + svg


def _axes(f: _Frame, ticks: Sequence[float], epochs: Sequence[int]) -> str:
    """Grid lines with their values, epoch labels (about ten at most), the axis and its titles."""
    parts = [
        f'<line class="grid" x1="{f.left}" x2="{f.width - f.right}" y1="{f.y(t):.1f}" '
        f'y2="{f.y(t):.1f}"/><text class="tick" x="{f.left - 6}" y="{f.y(t) + 4:.1f}" '
        f'text-anchor="end">{_fmt(t)}</text>'
        for t in ticks
    ]
    every = max(1, math.ceil(len(epochs) / 10))
    parts += [
        f'<text class="tick" x="{f.x(e):.1f}" y="{f.height - f.bottom + 18}" '
        f'text-anchor="middle">{e}</text>'
        for e in epochs
        if (e - epochs[0]) % every == 0 or e == epochs[-1]
    ]
    base = f.height - f.bottom
    parts.append(
        f'<line class="axis" x1="{f.left}" x2="{f.width - f.right}" y1="{base}" y2="{base}"/>'
        f'<text class="label" x="{(f.left + f.width - f.right) / 2:.0f}" y="{f.height - 6}" '
        f'text-anchor="middle">epoch</text>'
        f'<text class="label" transform="translate(14 {(f.top + base) / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">bits per character</text>'
    )
    return "".join(parts)


def _best_line(f: _Frame, epoch: int) -> str:
    """The epoch model.pt keeps (the last one that improved the validation loss), dashed."""
    x = f.x(epoch)
    return f'<line class="best" x1="{x:.1f}" x2="{x:.1f}" y1="{f.top}" y2="{f.height - f.bottom}"/>'


def _lines(f: _Frame, rows: Sequence[_Point]) -> str:
    """Both series as polylines, with a dot per epoch whose <title> tells its numbers."""
    parts = []
    for series in ("train", "val"):
        ys = [f.y(r.train_bits if series == "train" else r.val_bpc) for r in rows]
        line = " ".join(f"{f.x(r.epoch):.1f},{v:.1f}" for r, v in zip(rows, ys, strict=True))
        parts.append(f'<polyline class="{series}" points="{line}"/>')
        for r, v in zip(rows, ys, strict=True):
            tip = (
                f"epoch {r.epoch}: train loss {r.train_bits:.3f} bits/char "
                f"({r.train_loss:.3f} nats/token), validation {r.val_bpc:.3f} bpc"
            )
            parts.append(
                f'<circle class="{series}" cx="{f.x(r.epoch):.1f}" cy="{v:.1f}" r="3">'
                f"<title>{html.escape(tip)}</title></circle>"
            )
    return "".join(parts)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def table(rows: Sequence[tuple[str, str, str, str]], head: Sequence[str]) -> str:
    """A metrics table; the last column explains, and is left out on a phone."""
    cls = ("", "num", "cmp", "what")
    th = "".join(f'<th class="{c}">{html.escape(h)}</th>' for c, h in zip(cls, head, strict=True))
    body = "".join(
        f'<tr><th scope="row">{html.escape(a)}</th><td class="num">{html.escape(b)}</td>'
        f'<td class="cmp muted">{html.escape(c)}</td><td class="what">{html.escape(d)}</td></tr>'
        for a, b, c, d in rows
    )
    return f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def _card(card: Card) -> str:
    uri = thumbnail(card.photo) if card.photo is not None else None
    alt = html.escape(card.title, quote=True)
    if uri is None:
        pic = '<div class="nophoto">photo not found</div>'
    else:
        pic = f'<img src="{uri}" alt="{alt}">'
    note = f'<p class="note muted">{html.escape(card.note)}</p>' if card.note else ""
    parts = [
        f'<figure class="card">{pic}<figcaption><p class="title">{html.escape(card.title)}</p>'
        + note
    ]
    if card.real is not None:
        parts.append(
            f'<p class="real"><span class="tag">real</span><span class="cap">'
            f"{caption_html(card.real)}</span></p>"
        )
    if card.generated:
        items = "".join(
            f'<li><span class="cap">{caption_html(c.tokens, c.probs)}</span></li>'
            for c in card.generated
        )
        label = '<span class="tag">generated</span>' if card.real is not None else ""
        parts.append(f'<div class="gen">{label}<ol>{items}</ol></div>')
    parts.append("</figcaption></figure>")
    return "".join(parts)


def contact_sheet(cards: Sequence[Card]) -> str:
    if not cards:
        return '<p class="muted">No photos to show.</p>'
    return '<div class="sheet">' + "".join(_card(c) for c in cards) + "</div>"


LEGEND = (
    '<p class="legend muted">colours: <span class="hashtag">#hashtag</span> '
    '<span class="mention">@mention</span> <span class="emoji">emoji ✨</span> '
    '<span class="url">https://url</span> · <span class="unsure">unsure</span> / '
    '<span class="very-unsure">very unsure</span> (the model\'s probability &lt; 50% / &lt; 20%)</p>'
)

CSS = """
:root{color-scheme:light dark;--fg:#1c1c1e;--bg:#f6f6f8;--card:#fff;--muted:#6b6b72;
--line:#dedee3;--tag:#b0158f;--at:#00748a;--url:#1d5fd1;--emoji:#fff4c4;--train:#e0731c;
--val:#2563eb;--best:#16a34a}
@media (prefers-color-scheme:dark){:root{--fg:#ececf0;--bg:#141416;--card:#1f1f23;
--muted:#a1a1aa;--line:#38383f;--tag:#f472d0;--at:#4dd4e6;--url:#80a8ff;--emoji:#5c4b00;
--train:#fb923c;--val:#60a5fa;--best:#4ade80}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:1120px;margin:0 auto;padding:16px}
h1{font-size:1.45em;margin:.2em 0 .1em}h2{font-size:1.12em;margin:1.6em 0 .5em}
.muted{color:var(--muted)}
.chart{max-width:760px}.chart svg{width:100%;height:auto;display:block}
svg text{fill:var(--muted);font-size:12px}svg .label{font-size:13px}
svg .grid{stroke:var(--line)}svg .axis{stroke:var(--muted)}
svg polyline{fill:none;stroke-width:2.5}svg .best{stroke:var(--best);stroke-dasharray:4 4}
svg .train{stroke:var(--train)}svg .val{stroke:var(--val)}
svg circle.train{fill:var(--train)}svg circle.val{fill:var(--val)}
.legend{margin:.3em 0}.key{display:inline-block;width:18px;height:3px;margin:0 6px 4px 10px;
vertical-align:middle}.key.train{background:var(--train)}.key.val{background:var(--val)}
.key.best{background:var(--best)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:var(--card)}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{font-size:.85em;color:var(--muted);font-weight:600}
.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}.cmp{text-align:right}
@media (max-width:640px){.what{display:none}main{padding:10px}svg text{font-size:20px}
svg .label{font-size:20px}th,td{padding:6px}}
.sheet{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:14px}
.card{margin:0;background:var(--card);border:1px solid var(--line);border-radius:12px;
overflow:hidden}
.card img,.nophoto{display:block;width:100%;height:auto;aspect-ratio:1;object-fit:cover}
.nophoto{display:flex;align-items:center;justify-content:center;color:var(--muted);
background:var(--line)}
figcaption{padding:10px 12px 12px}
.title{margin:0 0 6px;font-weight:600;font-size:.9em;overflow-wrap:anywhere}
.note{margin:-4px 0 8px;font-size:.8em;overflow-wrap:anywhere}
.real{margin:0 0 8px}
.tag{display:inline-block;font-size:.72em;text-transform:uppercase;letter-spacing:.05em;
color:var(--muted);margin-right:6px}
.gen ol{margin:2px 0 0;padding-left:1.4em}.gen li{margin:0 0 5px}
.cap{white-space:pre-wrap;overflow-wrap:anywhere}
.hashtag{color:var(--tag);font-weight:600}.mention{color:var(--at);font-weight:600}
.url{color:var(--url);text-decoration:underline}.emoji{background:var(--emoji);border-radius:3px}
.unsure{opacity:.55}.very-unsure{opacity:.4;font-style:italic}
footer{margin:2em 0 1em;font-size:.8em}
"""


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str]]) -> str:
    """The whole document: `sections` are (heading, inner HTML); title and subtitle are escaped."""
    body = "".join(f"<section><h2>{html.escape(h)}</h2>{inner}</section>" for h, inner in sections)
    made = time.strftime("%Y-%m-%d %H:%M")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><main>"
        f'<h1>{html.escape(title)}</h1><p class="muted">{html.escape(subtitle)}</p>{body}'
        f'<footer class="muted">instacap {html.escape(__version__)} · {made}</footer>'
        "</main></body></html>\n"
    )
