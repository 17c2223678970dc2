"""What `instacap eval` asks of the run's own captions and hashtags about the photo:
self-retrieval@1 for each way of writing, and the hashtag head's precision and recall at 5.

**Self-retrieval@1**: each photo of a retrieval block (the blocks of retrieval@1) gets one caption
written by the run; that caption is scored under every photo of the block by the PMI of
retrieval@1 (mean log-probability under the photo, relative to its mean over the block), and it
counts when its own photo comes first (a tie shares the credit). A captioner that ignores the
photo, or writes one caption for every photo, scores chance. Captions are written up to the
longest real caption measured plus 10 tokens. It is
measured for plain sampling, beam search (width `EVAL_BEAM`) and re-ranked sampling.

**Hashtag P@5 / R@5**: on the photos whose real caption has hashtags, the share of the head's five
suggestions that the caption carries, and the share of the caption's tags among the five; beside
the same for the baseline that always suggests the five tags on most training posts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from instacap.accounts import Slots, condition
from instacap.config import EvalConfig, SampleConfig
from instacap.evalpool import Pool
from instacap.heads import Heads, tags_of
from instacap.metrics import retrieval_at_1, retrieval_blocks
from instacap.rerank import caption_ids
from instacap.scoring import caption_nats, photo_with

EVAL_BEAM = 5  # beam width measured by self-retrieval
ACCOUNT_PHOTOS = 20  # photos written for as each demo voice (account accuracy)
TOP_TAGS = 5  # precision and recall at 5

# The ways of writing measured: (report key suffix, beam width, re-ranked).
MODES = (("sampled", 0, False), ("beam", EVAL_BEAM, False), ("reranked", 0, True))


def self_retrieval(
    model: Any,
    vocab: Any,
    pool: Pool,
    config: EvalConfig,
    decoding: SampleConfig,
    generate: Callable[..., list[list[Any]]],
    reference: np.ndarray | None,
    image_dim: int = -1,
) -> dict[str, Any]:
    """{"self_retrieval_<mode>": share} for each of MODES (None for re-ranked without reference
    photos: a run trained before re-ranking existed)."""
    blocks = retrieval_blocks(len(pool), config.candidates, config.retrieval_photos, config.seed)
    photos = np.concatenate(blocks) if blocks else np.zeros(0, np.int64)
    feats = pool.features(photos)
    dim = feats.shape[1] if image_dim < 0 else image_dim
    out: dict[str, Any] = {}
    for name, width, reranked in MODES:
        if reranked and (reference is None or not len(reference)):
            out[f"self_retrieval_{name}"] = None
            continue
        # No longer than the longest real caption measured (and a little): a caption running on
        # to the cap tells no more, and costs the most.
        cap = min(decoding.max_len, int(pool.lengths.max()) + 10)
        sample = replace(decoding, n=1, seed=config.seed, beam=width, rerank=reranked, max_len=cap)
        written = [caps[0] for caps in generate(model, vocab, feats, sample, reference=reference)]
        mine = caption_ids(
            [[vocab.id(t) for t in c.tokens] for c in written], [c.ended for c in written]
        )
        ids = np.zeros((len(pool), mine.shape[1]), np.int64)
        ids[photos] = mine
        lengths = (ids != 0).sum(1)

        def score(
            ph: np.ndarray, caps: np.ndarray, ids: np.ndarray = ids, lengths: np.ndarray = lengths
        ) -> np.ndarray:
            feats = photo_with(pool, ph, caps, dim)
            nats = caption_nats(model, feats, ids[caps], lengths[caps], config.batch_size)
            return -nats / np.maximum(lengths[caps] - 1, 1)

        # Every caption is a rival, even one with another photo's caption's exact text: a
        # caption that several photos get tells them apart no better than chance (shared ties).
        labels = [str(i) for i in range(len(pool))]
        out[f"self_retrieval_{name}"] = retrieval_at_1(blocks, labels, score)[0]
    return out


def account_accuracy(
    model: Any,
    vocab: Any,
    pool: Pool,
    config: EvalConfig,
    decoding: SampleConfig,
    generate: Callable[..., list[list[Any]]],
    image_dim: int,
    slots: Slots | None,
) -> dict[str, Any]:
    """Demo data: for each demo voice the run knows, `config.n` captions written as it for each
    of up to `ACCOUNT_PHOTOS` photos; the share that carry that voice's markers, beside the
    share of the voice's real captions that do (the ceiling: short captions carry none)."""
    from instacap.demovoices import carries_voice

    out: dict[str, Any] = {"account_accuracy": None, "account_accuracy_data": None}
    voices = [a for a in (slots.accounts if slots else ()) if carries_voice("", a) is not None]
    if slots is None or not voices:
        return out
    photos = pool.features(np.arange(min(len(pool), ACCOUNT_PHOTOS)))[:, :image_dim]
    hits: list[bool] = []
    for voice in voices:
        feats = condition(photos, slots, slots.names.index(voice))
        written = generate(model, vocab, feats, replace(decoding, n=config.n, seed=config.seed))
        hits += [bool(carries_voice(c.text, voice)) for caps in written for c in caps]
    real = [carries_voice(c, a) for c, a in zip(pool.captions, pool.accounts, strict=True)]
    real_hits = [bool(r) for r, a in zip(real, pool.accounts, strict=True) if a in voices]
    out["account_accuracy"] = float(np.mean(hits))
    out["account_accuracy_data"] = float(np.mean(real_hits)) if real_hits else None
    return out


def hashtag_metrics(heads: Heads | None, pool: Pool) -> dict[str, Any]:
    """Precision and recall at 5 of the head and of the frequency baseline, over the pool's posts
    whose caption has hashtags (None when there are none, or the run has no head)."""
    keys = ("hashtag_precision_at_5", "hashtag_recall_at_5", "hashtag_precision_at_5_baseline",
            "hashtag_recall_at_5_baseline")  # fmt: skip
    truth = [tags_of(c) for c in pool.captions]
    tagged = [i for i, t in enumerate(truth) if t]
    out: dict[str, Any] = dict.fromkeys(keys)
    out["hashtag_posts"] = len(tagged)
    if heads is None or not tagged or not heads.tags:
        return out
    suggested = heads.suggest(pool.features(np.array(tagged)), TOP_TAGS)
    base = set(heads.frequent(TOP_TAGS))
    head_p, head_r = _at_k([{h.tag for h in s} for s in suggested], [truth[i] for i in tagged])
    base_p, base_r = _at_k([base] * len(tagged), [truth[i] for i in tagged])
    return out | dict(zip(keys, (head_p, head_r, base_p, base_r), strict=True))


def _at_k(suggested: list[set[str]], truth: list[set[str]]) -> tuple[float, float]:
    """Mean precision (hits / TOP_TAGS) and recall (hits / true tags) over posts."""
    hits = [len(s & t) for s, t in zip(suggested, truth, strict=True)]
    precision = float(np.mean([h / TOP_TAGS for h in hits]))
    recall = float(np.mean([h / len(t) for h, t in zip(hits, truth, strict=True)]))
    return precision, recall
