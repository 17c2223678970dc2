"""Measure a trained run: how well it predicts real captions, whether it reads the photo, and what
its own captions look like (DESIGN.md §6).

The metric functions are pure and live in `instacap.metrics`; the photos measured come from
`evalpool`, the run's likelihood of real captions from `scoring`. This module writes the run's own
captions, measures them and puts the report together (`evaluate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from instacap import accounts, heads, photofit
from instacap.config import EvalConfig, SampleConfig
from instacap.errors import InputError
from instacap.evalpool import Pool, all_features
from instacap.evalpool import load_pool as load_pool
from instacap.evalpool import subset as subset
from instacap.metrics import (
    copy_share,
    degenerate_share,
    distinct_2,
    ended_share,
    hashtag_share,
    known_word_share,
    mention_share,
    scene_accuracy,
    vocabulary_of,
)
from instacap.progress import SILENT, Reporter
from instacap.runs import AnyRun, TorchRun
from instacap.scoring import caption_nats as caption_nats
from instacap.scoring import likelihood_metrics

if TYPE_CHECKING:  # pragma: no cover
    from instacap.quizlog import Summary

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
    # bpc with each post's account replaced by another's minus bpc with its own (account style).
    style_gain: float | None = None
    # Demo data: captions written as a demo voice that carry its markers; the real captions' own.
    account_accuracy: float | None = None
    account_accuracy_data: float | None = None
    # One caption per retrieval photo finds its own photo (photofit.py); None: not measured.
    self_retrieval_sampled: float | None = None
    self_retrieval_beam: float | None = None
    self_retrieval_reranked: float | None = None
    # The hashtag head's top 5 on posts with hashtags, beside always the 5 most frequent tags.
    hashtag_precision_at_5: float | None = None
    hashtag_recall_at_5: float | None = None
    hashtag_precision_at_5_baseline: float | None = None
    hashtag_recall_at_5_baseline: float | None = None
    hashtag_posts: int = 0  # measured posts whose real caption has hashtags
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


# ----------------------------------------------------------------------------- generated captions


def decoding(run: AnyRun, config: EvalConfig) -> SampleConfig:
    """The run's default decoding (SampleConfig defaults, or what its meta.json recorded) with the
    evaluation's caption count and seed."""
    return replace(run.meta.sample or SampleConfig(), n=config.n, seed=config.seed)


def generate_all(
    run: AnyRun,
    feats: np.ndarray,
    sample: SampleConfig,
    generate: Callable[..., list[list[Any]]],
    reporter: Reporter = SILENT,
    chunk: int = 64,
    reference: np.ndarray | None = None,
) -> list[list[Any]]:
    """`sample.n` captions for each photo of feats [P, D], `chunk` photos per batch, each chunk
    seeded from the evaluation seed so the whole result is reproducible; `reference` photos
    for re-ranking (heads.Heads.reference)."""
    out: list[list[Any]] = []
    reporter.start("writing captions", total=len(feats))
    for k, start in enumerate(range(0, len(feats), chunk)):
        part = feats[start : start + chunk]
        seed = None if sample.seed is None else sample.seed + k
        more = {} if reference is None else {"reference": reference}
        out.extend(generate(run.model, run.vocab, part, replace(sample, seed=seed), **more))
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
    run: TorchRun,
    pool: Pool,
    train_captions: Sequence[str],
    config: EvalConfig = EvalConfig(),
    samples: int = 0,
    dataset_name: str = "",
    reporter: Reporter = SILENT,
    generate: Callable[..., list[list[Any]]] | None = None,
) -> Report:
    """Every metric of `run` (loaded with the torch network: scoring needs its forward pass)
    on `pool`; `train_captions` are what it learned from (for known words and copies)."""
    import torch

    from instacap.runtime import cpu_threads, seed_everything

    if generate is None:
        from instacap import sampling

        generate = sampling.generate
    seed_everything(config.seed)
    run.model.eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or cpu_threads())
    head = heads.load(run.path) if run.path.is_dir() else None
    image_dim = run.meta.feature_dim  # the photo's part of what the network reads
    reference = None if head is None else head.reference
    try:
        lik = likelihood_metrics(run.model, pool, config, reporter, image_dim)
        generated = generate_all(run, all_features(pool), decoding(run, config), generate, reporter,
                                 reference=reference)  # fmt: skip
        fit = _fit_metrics(run, pool, config, generate, reference)
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
        **fit,
        **photofit.hashtag_metrics(head, pool),
    )


def _fit_metrics(
    run: TorchRun,
    pool: Pool,
    config: EvalConfig,
    generate: Callable[..., list[list[Any]]],
    reference: np.ndarray | None,
) -> dict[str, Any]:
    """Self-retrieval of the run's own captions and, on the demo data, its account accuracy."""
    image_dim, sample = run.meta.feature_dim, decoding(run, config)
    fit = photofit.self_retrieval(run.model, run.vocab, pool, config, sample, generate,
                                  reference, image_dim)  # fmt: skip
    return fit | photofit.account_accuracy(run.model, run.vocab, pool, config, sample, generate,
                                           image_dim, accounts.of_run(run.meta))  # fmt: skip


def evaluate(
    run: str | TorchRun | None = None,
    dataset: str | None = None,
    config: EvalConfig = EvalConfig(),
    samples: int = 0,
    device: str = "cpu",
    reporter: Reporter = SILENT,
    **overrides: Any,
) -> Report:
    """Measure a saved run (its name, None for the newest, or one loaded with the torch network) on the
    validation split of its data set, or on the posts of data set `dataset` it has not trained on.

    `overrides` replace fields of `config` (e.g. `evaluate("demo", n=5, seed=1)`). Deterministic
    for the seed. Raises NotReady / CheckpointError / InputError with the one sentence to show.
    """
    try:
        config = replace(config, **overrides)
    except TypeError as exc:
        raise InputError(f"Unknown evaluation setting: {exc}.") from None
    if run is None or isinstance(run, str):
        from instacap import runs

        run = runs.load(run, backend="torch", device=device)
    pool, train_captions, name = load_pool(run, dataset, config, reporter)
    report = measure(run, pool, train_captions, config, samples, name, reporter)
    if run.path.is_dir():  # a run loaded from its folder: people may have played its quiz
        from instacap import quizlog

        report = replace(report, quiz=quizlog.pooled(run.path, quizlog.model_id(run.meta)))
    return report
