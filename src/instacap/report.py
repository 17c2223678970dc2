"""Results as one self-contained HTML page: training curves, the numbers, and a contact sheet.

Three pages share one layout (`pagekit`): a run's `report.html` (written after training),
`instacap eval --html` and `instacap caption --html`. Each is a single file that opens anywhere,
offline and on a phone: the chart is inline SVG, photos are small inline JPEG thumbnails (data:
URIs), there is no JavaScript and no external resource. Captions are coloured by the same
classification as in the terminal (`highlight`). Every text from data is escaped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from instacap.errors import InputError
from instacap.files import write_atomic

# The pieces are offered here too (`report.page`, `report.caption_html`, ...): one import for
# whoever writes a page of their own, such as `quiz --html`.
from instacap.pagekit import LEGEND, table
from instacap.pagekit import Card as Card
from instacap.pagekit import caption_html as caption_html
from instacap.pagekit import contact_sheet as contact_sheet
from instacap.pagekit import curves_svg as curves_svg
from instacap.pagekit import page as page
from instacap.pagekit import thumbnail as thumbnail

if TYPE_CHECKING:  # pragma: no cover
    from instacap.dataset import Dataset
    from instacap.evaluation import Report, Sample
    from instacap.runs import RunMeta
    from instacap.sampling import Caption

REPORT_FILE = "report.html"  # in each run folder, written after training
TRAINING_PHOTOS = 8  # validation photos on a run's report.html: cheap enough to add to training
TRAINING_CAPTIONS = 2  # generated captions per photo there
EVAL_PHOTOS = 12  # validation photos on `eval --html` when --samples asks for fewer


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
    """The finished epochs of a run (metrics.jsonl); [] when there are none or the file is gone."""
    from instacap import runs

    return runs.read_history(run_path)


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}%"


def _num(x: float | None, unit: str = "") -> str:
    return "–" if x is None or x != x else f"{x:.3f}{unit}"


def _fit_rows(r: Report) -> list[tuple[str, str, str, str]]:
    """Self-retrieval and the hashtag head's P@5 / R@5 (photofit.py), where measured."""
    rows: list[tuple[str, str, str, str]] = []
    if r.style_gain is not None:
        rows.append(("style gain", _num(r.style_gain, " bits"), "> 0",
                     "bpc with each post's account swapped for another minus with its own"))  # fmt: skip
    if r.account_accuracy is not None:
        rows.append(("account accuracy", _pct(r.account_accuracy),
                     f"real {_pct(r.account_accuracy_data)}",
                     "captions written as a demo account that carry its voice's markers"))  # fmt: skip
    if r.self_retrieval_sampled is not None:
        reranked = (
            ""
            if r.self_retrieval_reranked is None
            else f" · re-ranked {_pct(r.self_retrieval_reranked)}"
        )
        rows.append(
            (
                "self-retrieval@1",
                f"sampled {_pct(r.self_retrieval_sampled)} · beam {_pct(r.self_retrieval_beam)}"
                + reranked,
                f"chance {_pct(1 / max(r.retrieval_candidates, 1))}",
                "its own caption picks out its photo among the block's, by the same score",
            )
        )
    if r.hashtag_precision_at_5 is not None:
        rows.append(
            (
                "hashtags P@5 / R@5",
                f"{_pct(r.hashtag_precision_at_5)} / {_pct(r.hashtag_recall_at_5)}",
                f"top-5 tags {_pct(r.hashtag_precision_at_5_baseline)} / "
                f"{_pct(r.hashtag_recall_at_5_baseline)}",
                f"the hashtag head's 5 guesses on {r.hashtag_posts} photos whose caption has tags",
            )
        )
    return rows


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
    rows += _fit_rows(r)
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
    return rows + _quiz_rows(r.quiz)


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
                table(metric_rows(r), ("metric", "value", "compare with", "what it tells")),
            ),
            (
                "Validation photos: the real caption and the run's own",
                LEGEND + contact_sheet(sample_cards(r.samples)),
            ),
        ],
    )


def _quiz_rows(s: Any) -> list[tuple[str, str, str, str]]:
    """People's verdict (quiz.Summary of every `instacap quiz` on the run), once anyone answered:
    the last row of `metric_rows`, so the terminal table and the page show it alike."""
    if s is None or s.rate is None:
        return []
    return [
        (
            "fooling rate",
            _pct(s.rate),
            "50% = cannot tell",
            f"people took the run's caption for the real one in {s.fooled} of {s.answered} "
            f"`instacap quiz` rounds (95% interval {_pct(s.low)}–{_pct(s.high)})",
        )
    ]


def training_rows(
    meta: RunMeta, history: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str, str, str]]:
    """The numbers of a run's last validation, from meta.json and metrics.jsonl."""
    metrics, data = meta.metrics, meta.dataset
    rows = []
    if history:
        last = history[-1]
        planned = meta.train_config.epochs
        stopped = " (stopped early)" if metrics.stopped_early else ""
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
                f"best {_num(metrics.best_val_bpc)}",
                f"last epoch; the run keeps epoch {metrics.best_epoch or '?'}, its best",
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
    if data.name:
        rows.append(
            (
                "data",
                f"{data.train} + {data.val}",
                "train + validation",
                f"data set {data.name}, {meta.encoder} features",
            )
        )
    return rows


def training_page(
    name: str, meta: RunMeta, history: Sequence[Mapping[str, Any]], cards: Sequence[Card]
) -> str:
    """A run's report.html: curves, the last validation's numbers, a few validation photos."""
    started = meta.created[:16].replace("T", " ")  # 2026-01-31T12:00:00+0100
    return page(
        f"Run {name}",
        f"started {started} · preset {meta.preset} · "
        f"instacap eval --run {name} --html eval.html measures it fully",
        [
            ("Training", f'<div class="chart">{curves_svg(history)}</div>'),
            (
                "Last validation",
                table(training_rows(meta, history), ("", "value", "compare with", "")),
            ),
            (
                "Validation photos: the real caption and the run's own",
                LEGEND + contact_sheet(cards),
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
    return page("Captions for your photos", sub, [("Photos", LEGEND + contact_sheet(cards))])


def spread(n: int, k: int) -> np.ndarray:
    """k indices spread evenly over range(n) (all of them when n <= k)."""
    if n <= k:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def write_training_report(
    name: str, dataset: Dataset, photos: int = TRAINING_PHOTOS, seed: int = 0
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
