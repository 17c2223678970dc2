"""Results as one self-contained HTML page: training curves, the numbers, and a contact sheet.

Three pages share one layout: a run's `report.html` (written after training), `instacap eval
--html` and `instacap caption --html`. Each is a single file that opens anywhere, offline and on a
phone: the chart is inline SVG drawn here, photos are small inline JPEG thumbnails (data: URIs),
there is no JavaScript and no external resource. Captions are coloured by the same classification
as in the terminal (`highlight`). Every text from data (captions, names, paths) is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from instacap import __version__, highlight
from instacap.errors import BadImage, InputError
from instacap.files import write_atomic
from instacap.sampling import Caption

if TYPE_CHECKING:  # pragma: no cover
    from instacap.evaluation import Report, Sample

REPORT_FILE = "report.html"  # in each run folder, written after training
THUMB = 224  # longest side of the inline thumbnails, in pixels (the demo photos' own size)
TRAINING_PHOTOS = 8  # validation photos on a run's report.html: cheap enough to add to training
TRAINING_CAPTIONS = 2  # generated captions per photo there
EVAL_PHOTOS = 12  # validation photos on `eval --html` when --samples asks for fewer


@dataclass(frozen=True)
class Card:
    """One photo of a contact sheet: its real caption (None for the user's own photos) and the
    generated ones, best first."""

    photo: Path | None
    title: str
    note: str = ""
    real: str | None = None
    generated: tuple[Caption, ...] = ()


# ----------------------------------------------------------------------------- pieces


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
    left, right, top, bottom = 52, 18, 14, 42
    epochs = [r.epoch for r in rows]
    x_lo, x_hi = (min(epochs) - 0.5, max(epochs) + 0.5) if len(rows) == 1 else (1, max(epochs))
    values = [v for r in rows for v in (r.train_bits, r.val_bpc)]
    ticks = _nice_ticks(min(values), max(values))
    y_lo, y_hi = ticks[0], ticks[-1]

    def x(e: float) -> float:
        return left + (e - x_lo) / (x_hi - x_lo) * (width - left - right)

    def y(v: float) -> float:
        return top + (y_hi - v) / (y_hi - y_lo) * (height - top - bottom)

    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'aria-label="Training curves: train loss and validation bits per character by epoch">'
    ]
    for t in ticks:
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
        )
    every = max(1, math.ceil(len(epochs) / 10))  # at most about ten epoch labels
    for e in epochs:
        if (e - epochs[0]) % every == 0 or e == epochs[-1]:
            parts.append(
                f'<text class="tick" x="{x(e):.1f}" y="{height - bottom + 18}" '
                f'text-anchor="middle">{e}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{height - bottom}" '
        f'y2="{height - bottom}"/>'
        f'<text class="label" x="{(left + width - right) / 2:.0f}" y="{height - 6}" '
        f'text-anchor="middle">epoch</text>'
        f'<text class="label" transform="translate(14 {(top + height - bottom) / 2:.0f}) '
        f'rotate(-90)" text-anchor="middle">bits per character</text>'
    )
    best = [r for r in rows if r.best]
    if best:  # the epoch model.pt keeps: the last one that improved the validation loss
        bx = x(best[-1].epoch)
        parts.append(
            f'<line class="best" x1="{bx:.1f}" x2="{bx:.1f}" y1="{top}" y2="{height - bottom}"/>'
        )
    for series in ("train", "val"):
        ys = [y(r.train_bits if series == "train" else r.val_bpc) for r in rows]
        line = " ".join(f"{x(r.epoch):.1f},{v:.1f}" for r, v in zip(rows, ys, strict=True))
        parts.append(f'<polyline class="{series}" points="{line}"/>')
        for r, v in zip(rows, ys, strict=True):
            tip = (
                f"epoch {r.epoch}: train loss {r.train_bits:.3f} bits/char "
                f"({r.train_loss:.3f} nats/token), validation {r.val_bpc:.3f} bpc"
            )
            parts.append(
                f'<circle class="{series}" cx="{x(r.epoch):.1f}" cy="{v:.1f}" r="3">'
                f"<title>{html.escape(tip)}</title></circle>"
            )
    parts.append("</svg>")
    legend = (
        '<p class="legend"><span class="key train"></span>train loss '
        '<span class="key val"></span>validation bpc'
        + ('<span class="key best"></span>best epoch (the model kept)' if best else "")
        + "</p>"
    )
    return legend + "".join(parts)


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def _table(rows: Sequence[tuple[str, str, str, str]], head: Sequence[str]) -> str:
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


_LEGEND = (
    '<p class="legend muted">colours: <span class="hashtag">#hashtag</span> '
    '<span class="mention">@mention</span> <span class="emoji">emoji ✨</span> '
    '<span class="url">https://url</span> · <span class="unsure">unsure</span> / '
    '<span class="very-unsure">very unsure</span> (the model\'s probability &lt; 50% / &lt; 20%)</p>'
)

_CSS = """
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
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body><main>"
        f'<h1>{html.escape(title)}</h1><p class="muted">{html.escape(subtitle)}</p>{body}'
        f'<footer class="muted">instacap {html.escape(__version__)} · {made}</footer>'
        "</main></body></html>\n"
    )


def check_target(path: Path | str) -> Path:
    """`path` as a Path when a page can be written there, else InputError in one sentence (the
    commands check before their work, not after it)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name such as report.html.")
    if not path.parent.is_dir():
        raise InputError(
            f"The folder {path.parent} does not exist; create it or choose another --html path."
        )
    return path


def write(path: Path | str, document: str) -> Path:
    """Write a page atomically; a missing folder is the user's to create (one sentence)."""
    path = check_target(path)
    write_atomic(path, document.encode("utf-8"))
    # A page is for sharing: the usual permissions for a new file, not a temp file's private ones.
    mask = os.umask(0)
    os.umask(mask)
    path.chmod(0o666 & ~mask)
    return path


# ----------------------------------------------------------------------------- the three pages


def read_history(run_path: Path) -> list[dict[str, Any]]:
    """The finished epochs of a run (metrics.jsonl); [] when there are none or the file is gone.
    A damaged line (a crash mid-write of an older version) is skipped, not fatal: this is a view."""
    from instacap.runs import METRICS_FILE

    try:
        lines = (run_path / METRICS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "epoch" in row:
            out.append(row)
    return out


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}%"


def _num(x: float | None, unit: str = "") -> str:
    return "–" if x is None or x != x else f"{x:.3f}{unit}"


def metric_rows(r: Report) -> list[tuple[str, str, str, str]]:
    """(metric, value, compare with, what it tells) for every number of an evaluation, as the
    terminal table and the HTML page show them."""
    rows = [
        ("bpc", _num(r.bpc), "", "bits per character of the real captions; lower is better"),
        (
            "image gain",
            _num(r.image_gain, " bits"),
            "> 0",
            f"bpc with shuffled photos ({_num(r.bpc_shuffled)}) minus bpc with the right ones; "
            "0 = the photo is ignored",
        ),
        (
            "retrieval@1",
            _pct(r.retrieval_at_1),
            f"chance {_pct(r.retrieval_chance)}",
            f"true caption ranks first among up to {r.retrieval_candidates} by how much likelier "
            f"the photo makes it ({r.retrieval_photos} photos)",
        ),
    ]
    if r.scene_accuracy is not None:
        rows.append(
            (
                "scene accuracy",
                _pct(r.scene_accuracy),
                f"chance {_pct(r.scene_chance)}, real {_pct(r.scene_accuracy_data)}",
                "its captions that name the photo's scene",
            )
        )
    rows += [
        (
            "distinct-2",
            _num(r.distinct_2),
            f"real {_num(r.distinct_2_data)}",
            "unique word pairs / all word pairs in its captions (diversity)",
        ),
        ("known words", _pct(r.known_words), "", "its words that occur in the training captions"),
        ("copied", _pct(r.copied), "", "its captions identical to a training caption"),
        (
            "loops",
            _pct(r.degenerate),
            "",
            "its captions going round a character, word or phrase up to the length cap",
        ),
        ("hashtags", _pct(r.hashtags), f"real {_pct(r.hashtags_data)}", "captions with a #tag"),
        ("mentions", _pct(r.mentions), f"real {_pct(r.mentions_data)}", "captions with an @name"),
        ("ended", _pct(r.ended), "", "captions that stopped on their own before the length cap"),
    ]
    quiz = r.quiz  # people's verdict: every `instacap quiz` on the run, pooled
    if quiz is not None and quiz.rate is not None:
        rows.append(
            (
                "fooling rate",
                _pct(quiz.rate),
                "50% = can't tell",
                f"quiz rounds where people took its caption for the real one ({quiz.fooled} of "
                f"{quiz.answered}; 95% interval {_pct(quiz.low)}–{_pct(quiz.high)})",
            )
        )
    return rows


def _note(shortcode: str, scene: str | None) -> str:
    """Under the account: the post's shortcode, and its scene on the demo data."""
    return shortcode + (f" · {scene}" if scene else "")


def sample_cards(samples: Sequence[Sample]) -> list[Card]:
    return [
        Card(Path(s.image), s.account, _note(s.shortcode, s.scene), s.original, s.generated)
        for s in samples
    ]


def eval_page(r: Report, run_path: Path | None = None) -> str:
    """`instacap eval --html`: the run's training curves (when its metrics.jsonl is there), every
    number of the evaluation, and its samples as a contact sheet."""
    history = read_history(run_path) if run_path is not None else []
    return page(
        f"Run {r.run} on data set {r.dataset}",
        f"{r.encoder} features · {r.photos} validation photos measured · {r.captions_per_photo} "
        f"captions each · seed {r.seed}",
        [
            ("Training", f'<div class="chart">{curves_svg(history)}</div>'),
            (
                "Numbers",
                _table(metric_rows(r), ("metric", "value", "compare with", "what it tells")),
            ),
            (
                "Validation photos: the real caption and the run's own",
                _LEGEND + contact_sheet(sample_cards(r.samples)),
            ),
        ],
    )


def training_rows(
    meta: Mapping[str, Any], history: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str, str, str]]:
    """The numbers of a run's last validation, from meta.json and metrics.jsonl."""
    metrics, train_cfg, data = (_dict(meta.get(k)) for k in ("metrics", "train_config", "dataset"))
    rows = []
    if history:
        last = history[-1]
        planned = train_cfg.get("epochs", "?")
        stopped = " (stopped early)" if metrics.get("stopped_early") else ""
        rows.append(
            (
                "epochs",
                f"{last['epoch']} of {planned}",
                "",
                f"passes over the training set{stopped}",
            )
        )
        rows.append(
            (
                "validation bpc",
                _num(last.get("val_bpc")),
                f"best {_num(metrics.get('best_val_bpc'))}",
                f"last epoch; the run keeps epoch {metrics.get('best_epoch', '?')}, its best",
            )
        )
        rows.append(("train loss", _num(last.get("train_loss")), "", "last epoch, nats per token"))
        rows.append(
            (
                "speed",
                f"{float(last.get('captions_per_s', 0)):.0f} captions/s",
                "",
                f"{sum(float(h.get('seconds', 0)) for h in history):.0f} s of training in all",
            )
        )
    if data:
        rows.append(
            (
                "data",
                f"{data.get('train', '?')} + {data.get('val', '?')}",
                "train + validation",
                f"data set {data.get('name', '?')}, {meta.get('encoder', '?')} features",
            )
        )
    return rows


def training_page(
    name: str, meta: Mapping[str, Any], history: Sequence[Mapping[str, Any]], cards: Sequence[Card]
) -> str:
    """A run's report.html: curves, the last validation's numbers, a few validation photos."""
    started = str(meta.get("created", ""))[:16].replace("T", " ")  # 2026-01-31T12:00:00+0100
    return page(
        f"Run {name}",
        f"started {started} · preset {meta.get('preset', 'default')} · "
        f"instacap eval --run {name} --html eval.html measures it fully",
        [
            ("Training", f'<div class="chart">{curves_svg(history)}</div>'),
            (
                "Last validation",
                _table(training_rows(meta, history), ("", "value", "compare with", "")),
            ),
            (
                "Validation photos: the real caption and the run's own",
                _LEGEND + contact_sheet(cards),
            ),
        ],
    )


def captions_page(
    run: str, photos: Sequence[Path | str], results: Sequence[Sequence[Caption]], settings: str = ""
) -> str:
    """`instacap caption --html`: each photo with its captions, best first, to choose from."""
    cards = [
        Card(Path(p), Path(p).name, "", None, tuple(caps))
        for p, caps in zip(photos, results, strict=True)
    ]
    sub = f"run {run}" + (f" · {settings}" if settings else "") + " · best (likeliest) first"
    return page("Captions for your photos", sub, [("Photos", _LEGEND + contact_sheet(cards))])


def spread(n: int, k: int) -> np.ndarray:
    """k indices spread evenly over range(n) (all of them when n <= k)."""
    if n <= k:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def write_training_report(
    name: str, dataset: Any, photos: int = TRAINING_PHOTOS, seed: int = 0
) -> Path:
    """runs/<name>/report.html for a trained run and the data set it trained on (dataset.Dataset):
    its curves, its last validation, and `photos` validation photos captioned by its kept model."""
    from instacap import runs
    from instacap.sampling import Captioner

    path = runs.run_dir(name)
    meta = runs.read_meta(path)
    idx = spread(len(dataset.val), photos)
    cards: list[Card] = []
    if len(idx):
        feats = dataset.val.features(idx)  # [k, D]
        captions = Captioner.load(name).caption_features(feats, n=TRAINING_CAPTIONS, seed=seed)
        val = dataset.val
        cards = [
            Card(
                Path(val.images[i]),
                val.accounts[i],
                _note(val.shortcodes[i], val.scenes[i]),
                val.captions[i],
                tuple(caps),
            )
            for i, caps in zip(idx.tolist(), captions, strict=True)
        ]
    return write(path / REPORT_FILE, training_page(name, meta, read_history(path), cards))
