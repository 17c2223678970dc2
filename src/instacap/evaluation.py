"""Measure a trained run: how well it predicts real captions, whether it reads the photo, and what
its own captions look like (DESIGN.md §6).

The metric functions are pure and live in `instacap.metrics`; this module loads the photos measured,
scores them with the run and puts the report together (`evaluate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from instacap.config import EvalConfig, SampleConfig
from instacap.dataset import Split
from instacap.errors import InputError
from instacap.metrics import (
    bpc_from_totals,
    copy_share,
    degenerate_share,
    derangement,
    distinct_2,
    ended_share,
    hashtag_share,
    image_gain,
    known_word_share,
    mention_share,
    retrieval_at_1,
    retrieval_blocks,
    scene_accuracy,
    vocabulary_of,
)
from instacap.progress import SILENT, Reporter
from instacap.runs import Run

if TYPE_CHECKING:  # pragma: no cover
    from instacap.model import CaptionModel
    from instacap.quiz import Summary

# The pure metrics live in `metrics`; this module measures a run with them.


# ----------------------------------------------------------------------------- the report

SCHEMA = 1  # bump when a key of Report.to_json changes meaning or disappears


@dataclass(frozen=True)
class Sample:
    """One validation photo: its real caption beside the run's own (for `eval --samples`)."""

    shortcode: str
    account: str
    scene: str | None
    image: str
    original: str
    generated: tuple[Any, ...]  # sampling.Caption, n of them

    def to_json(self) -> dict[str, Any]:
        return {
            "shortcode": self.shortcode,
            "account": self.account,
            "scene": self.scene,
            "image": self.image,
            "original": self.original,
            "generated": [c.text for c in self.generated],
        }


@dataclass(frozen=True)
class Report:
    """Every number `instacap eval` prints. Fractions are 0..1; bpc and gain are bits per token."""

    run: str
    dataset: str
    encoder: str
    photos: int  # validation photos measured
    captions_per_photo: int
    seed: int
    bpc: float
    bpc_shuffled: float
    image_gain: float
    retrieval_at_1: float
    retrieval_chance: float
    retrieval_photos: int
    retrieval_candidates: int  # largest pool (100, or fewer on a small data set)
    distinct_2: float
    distinct_2_data: float  # the real validation captions' own
    known_words: float
    copied: float
    degenerate: float
    hashtags: float
    hashtags_data: float
    mentions: float
    mentions_data: float
    ended: float
    scene_accuracy: float | None  # None when the data knows no scenes (only the demo data does)
    scene_accuracy_data: float | None  # the real captions' own: the ceiling
    scene_chance: float | None
    samples: tuple[Sample, ...] = ()
    # People's verdict: the pooled fooling rate of every `instacap quiz` on the run (None: no quiz).
    quiz: Summary | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "samples":
                value = [s.to_json() for s in value]
            elif f.name == "quiz":
                value = None if value is None else value.to_json()
            out[f.name] = _finite(value)
        return out


def _finite(value: Any) -> Any:
    # JSON has no NaN: an undefined number becomes null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ----------------------------------------------------------------------------- the photos measured


# The photos measured: a data set's split, or rows gathered from several (see `_pool_from`).
Pool = Split


def subset(n: int, limit: int, seed: int) -> np.ndarray:
    """All of range(n), or a seeded sorted sample of `limit` of them (limit 0 = all)."""
    if limit <= 0 or n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


# ----------------------------------------------------------------------------- scoring with the model


def caption_nats(
    model: Any, feats: np.ndarray, ids: np.ndarray, lengths: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Summed -ln p of each caption's tokens after BOS (EOS included) given its photo features.

    feats [N, D], ids [N, L], lengths [N] -> nats [N]. Captions are batched by length so that a
    batch runs only as many steps as its longest caption.
    """
    import torch

    from instacap.tokenizer import PAD

    device = next(model.parameters()).device
    order = np.argsort(lengths, kind="stable")
    nats = np.zeros(len(lengths), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            t = int(lengths[rows].max())
            x = torch.from_numpy(np.ascontiguousarray(ids[rows, :t])).to(device)  # [B, t]
            f = torch.from_numpy(np.ascontiguousarray(feats[rows], dtype=np.float32)).to(device)
            inputs, targets = x[:, :-1], x[:, 1:]  # [B, t-1] each
            logits, _ = model(f, inputs)  # [B, t-1, V]
            lp = logits.float().log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            lp = lp.masked_fill(targets == PAD, 0.0)  # [B, t-1]
            nats[rows] = -lp.sum(1).double().cpu().numpy()
    return nats


def likelihood_metrics(
    model: Any, pool: Pool, config: EvalConfig, reporter: Reporter = SILENT
) -> dict[str, Any]:
    """bpc with the right photos and with deranged photos, and retrieval@1 among `candidates`."""
    counts = pool.lengths - 1  # targets: every token after BOS, EOS included
    reporter.start("scoring captions", total=3)
    bpc = bpc_from_totals(
        caption_nats(model, _all_features(pool), pool.ids, pool.lengths, config.batch_size), counts
    )
    reporter.advance("scoring captions")
    if len(pool) >= 2:
        perm = derangement(len(pool), config.seed)
        shuffled = caption_nats(
            model, pool.features(perm), pool.ids, pool.lengths, config.batch_size
        )
        bpc_shuffled = bpc_from_totals(shuffled, counts)
    else:
        bpc_shuffled = float("nan")
    reporter.advance("scoring captions")

    # Retrieval: a seeded subset of photos in blocks of up to 100, every caption under every photo.
    blocks = retrieval_blocks(len(pool), config.candidates, config.retrieval_photos, config.seed)

    def score(photos: np.ndarray, caps: np.ndarray) -> np.ndarray:
        # Mean log-probability per token, so that a short caption does not win by being short.
        nats = caption_nats(
            model, pool.features(photos), pool.ids[caps], pool.lengths[caps], config.batch_size
        )
        return -nats / counts[caps]

    retrieval, chance = retrieval_at_1(blocks, pool.captions, score)
    reporter.advance("scoring captions")
    return {
        "bpc": bpc,
        "bpc_shuffled": bpc_shuffled,
        "image_gain": image_gain(bpc, bpc_shuffled),
        "retrieval_at_1": retrieval,
        "retrieval_chance": chance,
        "retrieval_photos": sum(len(b) for b in blocks),
        "retrieval_candidates": max((len(b) for b in blocks), default=0),
    }


# ----------------------------------------------------------------------------- generated captions


def decoding(run: Run, config: EvalConfig) -> SampleConfig:
    """The run's default decoding (SampleConfig defaults, or what its meta.json recorded) with the
    evaluation's caption count and seed."""
    base = SampleConfig()
    saved = run.meta.get("sample")
    if isinstance(saved, dict):
        known = {f.name for f in fields(SampleConfig)}
        base = replace(base, **{k: v for k, v in saved.items() if k in known})
    return replace(base, n=config.n, seed=config.seed)


def generate_all(
    run: Run,
    feats: np.ndarray,
    sample: SampleConfig,
    generate: Callable[..., list[list[Any]]],
    reporter: Reporter = SILENT,
    chunk: int = 64,
) -> list[list[Any]]:
    """`sample.n` captions for each photo of feats [P, D], `chunk` photos per batch, each chunk
    seeded from the evaluation seed so the whole result is reproducible."""
    out: list[list[Any]] = []
    reporter.start("writing captions", total=len(feats))
    for k, start in enumerate(range(0, len(feats), chunk)):
        part = feats[start : start + chunk]
        seed = None if sample.seed is None else sample.seed + k
        out.extend(generate(run.model, run.vocab, part, replace(sample, seed=seed)))
        reporter.advance("writing captions", len(part))
    return out


def text_metrics(
    generated: list[list[Any]], pool: Pool, train_captions: Sequence[str]
) -> dict[str, Any]:
    """Metrics of the run's own captions (sampling.Caption lists, one list per pool photo), each
    beside the same figure for the real captions where that comparison means something."""
    texts = [c.text for caps in generated for c in caps]
    ended = [bool(c.ended) for caps in generated for c in caps]
    scenes = [pool.scenes[i] for i, caps in enumerate(generated) for _ in caps]
    result: dict[str, Any] = {
        "distinct_2": distinct_2(texts),
        "distinct_2_data": distinct_2(pool.captions),
        "known_words": known_word_share(texts, vocabulary_of(train_captions)),
        "copied": copy_share(texts, {c.strip() for c in train_captions}),
        "degenerate": degenerate_share(texts, ended),
        "hashtags": hashtag_share(texts),
        "hashtags_data": hashtag_share(pool.captions),
        "mentions": mention_share(texts),
        "mentions_data": mention_share(pool.captions),
        "ended": ended_share(ended),
        "scene_accuracy": None,
        "scene_accuracy_data": None,
        "scene_chance": None,
    }
    known = {s for s in pool.scenes if s is not None}
    if known:
        from instacap.demo import scene_of

        result["scene_accuracy"] = scene_accuracy(texts, scenes, scene_of)
        result["scene_accuracy_data"] = scene_accuracy(pool.captions, pool.scenes, scene_of)
        result["scene_chance"] = 1.0 / len(known)
    return result


# ----------------------------------------------------------------------------- putting it together


def measure(
    run: Run,
    pool: Pool,
    train_captions: Sequence[str],
    config: EvalConfig = EvalConfig(),
    samples: int = 0,
    dataset_name: str = "",
    reporter: Reporter = SILENT,
    generate: Callable[..., list[list[Any]]] | None = None,
) -> Report:
    """Every metric of `run` (a runs.Run or anything with .name .model .vocab .encoder .meta)
    on `pool`; `train_captions` are what it learned from (for known words and copies)."""
    import torch

    from instacap.runtime import cpu_threads, seed_everything

    if generate is None:
        from instacap import sampling

        generate = sampling.generate
    seed_everything(config.seed)
    # Scoring needs gradients-free torch forward passes: `evaluate` loads runs with
    # checkpoint.load, whose model is the torch kind (tests hand in stand-ins with the same calls).
    cast("CaptionModel", run.model).eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or cpu_threads())
    try:
        lik = likelihood_metrics(run.model, pool, config, reporter)
        generated = generate_all(
            run, _all_features(pool), decoding(run, config), generate, reporter
        )
    finally:
        torch.set_num_threads(threads)
    text = text_metrics(generated, pool, train_captions)
    shown = tuple(
        Sample(
            shortcode=pool.shortcodes[i],
            account=pool.accounts[i],
            scene=pool.scenes[i],
            image=str(pool.images[i]),
            original=pool.captions[i],
            generated=tuple(generated[i]),
        )
        for i in range(min(samples, len(pool)))
    )
    return Report(
        run=run.name,
        dataset=dataset_name or run.dataset,
        encoder=run.encoder,
        photos=len(pool),
        captions_per_photo=config.n,
        seed=config.seed,
        samples=shown,
        **lik,
        **text,
    )


def evaluate(
    run: str | Run | None = None,
    dataset: str | None = None,
    config: EvalConfig = EvalConfig(),
    samples: int = 0,
    device: str = "cpu",
    reporter: Reporter = SILENT,
    **overrides: Any,
) -> Report:
    """Measure a saved run (its name, None for the newest, or a loaded runs.Run) on the
    validation split of its data set, or on the posts of data set `dataset` it has not trained on.

    `overrides` replace fields of `config` (e.g. `evaluate("demo", n=5, seed=1)`). Deterministic
    for the seed. Raises NotReady / CheckpointError / InputError with the one sentence to show.
    """
    try:
        config = replace(config, **overrides)
    except TypeError as exc:
        raise InputError(f"Unknown evaluation setting: {exc}.") from None
    if run is None or isinstance(run, str):
        from instacap import checkpoint

        run = checkpoint.load(run, device=device)
    pool, train_captions, name = load_pool(run, dataset, config, reporter)
    report = measure(run, pool, train_captions, config, samples, name, reporter)
    if run.path.is_dir():  # a run loaded from its folder: people may have played its quiz
        from instacap import quiz

        report = replace(report, quiz=quiz.pooled(run.path, quiz.model_id(run.meta)))
    return report


def load_pool(
    run: Run, name: str | None, config: EvalConfig, reporter: Reporter = SILENT
) -> tuple[Pool, list[str], str]:
    """(photos to measure, the run's training captions, data set name).

    The run's own data set gives its validation split. Another data set (same encoder) gives all
    its posts the run did not train on, when the run's own data set is still there to tell which;
    otherwise its validation split.
    """
    from instacap import dataset as datasets
    from instacap.errors import NotReady

    target = datasets.load(name or run.dataset)
    want_dim = run.meta.get("feature_dim")
    if target.encoder != run.encoder or (
        want_dim is not None and int(want_dim) != target.feature_dim
    ):
        raise InputError(
            f"Data set {target.name!r} holds {target.encoder!r} image features but run "
            f"{run.name!r} reads {run.encoder!r} features; prepare one with "
            f"`instacap prep --encoder {run.encoder}` and evaluate on that."
        )
    if target.name == run.dataset:
        fp = _trained_fingerprint(run)
        if fp and fp != target.fingerprint:
            reporter.note(
                f"Data set {target.name!r} changed since run {run.name!r} was trained; "
                "some validation posts may have been training posts."
            )
        parts = [(target.val, np.arange(len(target.val)))]
        train_captions = list(target.train.captions)
    else:
        try:
            own = datasets.load(run.dataset)
        except NotReady:
            own = None
        if own is None:
            reporter.note(
                f"Run {run.name!r}'s own data set is gone, so its training posts cannot be told "
                f"apart; measuring on the validation split of {target.name!r}."
            )
            parts = [(target.val, np.arange(len(target.val)))]
            train_captions = list(target.train.captions)
        else:
            seen = set(own.train.shortcodes)
            parts = [
                (
                    split,
                    np.array(
                        [i for i, s in enumerate(split.shortcodes) if s not in seen], np.int64
                    ),
                )
                for split in (target.val, target.train)
            ]
            train_captions = list(own.train.captions)
    pool = _pool_from(parts, run.vocab, target)
    if len(pool) < 2:
        raise NotReady(
            f"Data set {target.name!r} has fewer than two posts run {run.name!r} has not trained on; "
            "add posts and run `instacap prep` again."
        )
    return pool.take(subset(len(pool), config.max_photos, config.seed)), train_captions, target.name


def _trained_fingerprint(run: Run) -> str | None:
    # meta.json was checked as a dict by runs.read_meta; its "dataset" entry names the data set.
    data = run.meta.get("dataset")
    return data.get("fingerprint") if isinstance(data, dict) else run.meta.get("fingerprint")


def _pool_from(parts: list[tuple[Any, np.ndarray]], vocab: Any, data: Any) -> Pool:
    """Gather rows of dataset splits into one Pool, re-encoding the captions when the data set's
    vocabulary differs from the run's (ids must mean the run's characters)."""
    same_vocab = tuple(data.vocab.tokens) == tuple(vocab.tokens)
    ids, lengths, feats = [], [], []
    captions: list[str] = []
    scenes: list[str | None] = []
    shortcodes: list[str] = []
    accounts: list[str] = []
    images: list[Path] = []
    for split, idx in parts:
        if not len(idx):
            continue
        if same_vocab:
            ids.append(np.asarray(split.ids[idx], dtype=np.int64))
            lengths.append(np.asarray(split.lengths[idx], dtype=np.int64))
        else:
            enc = [vocab.encode(split.captions[i], data.max_len) for i in idx]
            block = np.zeros((len(enc), data.max_len), dtype=np.int64)
            for r, row in enumerate(enc):
                block[r, : len(row)] = row
            ids.append(block)
            lengths.append(np.array([len(row) for row in enc], dtype=np.int64))
        feats.append(np.asarray(split.features(idx), dtype=np.float32))
        captions += [split.captions[i] for i in idx]
        scenes += [split.scenes[i] for i in idx]
        shortcodes += [split.shortcodes[i] for i in idx]
        accounts += [split.accounts[i] for i in idx]
        images += [split.images[i] for i in idx]
    if not ids:
        ids, lengths = [np.zeros((0, 2), np.int64)], [np.zeros(0, np.int64)]
        feats = [np.zeros((0, data.feature_dim), np.float32)]
    width = max(a.shape[1] for a in ids)
    ids = [np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in ids]
    matrix = np.concatenate(feats)  # [N, D] float32: the pool's own rows, in order
    return Pool(
        ids=np.concatenate(ids),
        lengths=np.concatenate(lengths),
        feature_rows=np.arange(len(matrix), dtype=np.int64),
        matrix=matrix,
        shortcodes=shortcodes,
        accounts=accounts,
        captions=captions,
        images=images,
        scenes=scenes,
    )


def _all_features(pool: Pool) -> np.ndarray:
    """[N, D] float32 features of every photo of the pool, in order."""
    return pool.features(np.arange(len(pool)))
