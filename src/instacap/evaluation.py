"""Measure a trained run: how well it predicts real captions, whether it reads the photo, and what
its own captions look like (DESIGN.md §6).

The metric functions at the top are pure (arrays and strings in, numbers out) so each can be
checked on hand-made inputs; `evaluate` at the bottom wires them to a saved run and a data set.
"""

from __future__ import annotations

import itertools
import math
import string
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import regex

LN2 = math.log(2.0)

# ----------------------------------------------------------------------------- likelihood metrics


def bits_per_char(logprobs: np.ndarray, mask: np.ndarray) -> float:
    """Mean -log2 p over the real tokens.

    `logprobs` [N, T] natural-log probabilities of each target token (targets = ids[:, 1:], so BOS
    is never a target and EOS is); `mask` [N, T] true where the target is a real token, not PAD.
    """
    logprobs = np.asarray(logprobs, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    count = int(mask.sum())
    if count == 0:
        return float("nan")
    return float(-(logprobs * mask).sum() / count / LN2)


def bpc_from_totals(nats: np.ndarray, counts: np.ndarray) -> float:
    """Bits per character from per-caption totals: nats [N] summed -ln p, counts [N] tokens."""
    total = float(np.sum(counts))
    return float(np.sum(nats) / total / LN2) if total else float("nan")


def derangement(n: int, seed: int) -> np.ndarray:
    """A seeded permutation of range(n) that moves every element (no photo keeps its caption).

    Sattolo's shuffle gives a single n-cycle, which is always a derangement for n >= 2.
    """
    if n < 2:
        raise ValueError("a derangement needs at least two items")
    rng = np.random.default_rng(seed)
    perm = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = int(rng.integers(0, i))  # j < i: Sattolo, not Fisher-Yates
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def image_gain(bpc_true: float, bpc_shuffled: float) -> float:
    """Bits per character the right photo saves over a wrong one; ~0 means the photo is ignored."""
    return bpc_shuffled - bpc_true


# Scores captions for photos: (photo indices [M], caption indices [M]) -> score [M], higher = better.
ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def retrieval_pools(captions: Sequence[str], candidates: int, seed: int) -> list[np.ndarray]:
    """For each photo i, candidate caption indices: i first, then up to `candidates - 1` others.

    Others whose text equals caption i are left out (choosing an identical caption is not a mistake).
    """
    rng = np.random.default_rng(seed)
    n = len(captions)
    pools = []
    for i in range(n):
        others = np.array(
            [j for j in range(n) if j != i and captions[j] != captions[i]], dtype=np.int64
        )
        take = min(candidates - 1, len(others))
        chosen = rng.choice(others, size=take, replace=False) if take else others[:0]
        pools.append(np.concatenate([[i], chosen]).astype(np.int64))
    return pools


def retrieval_at_1(pools: Sequence[np.ndarray], score: ScoreFn) -> float:
    """Share of photos whose true caption (pool[0]) scores highest among its pool.

    A tie at the top is shared: the true caption gets 1/(number tied), so a scorer that gives every
    caption the same score lands exactly on chance (1 / pool size) instead of 0% or 100%.
    """
    if not pools:
        return float("nan")
    credit = 0.0
    for i, pool in enumerate(pools):
        photos = np.full(len(pool), i, dtype=np.int64)
        s = np.asarray(score(photos, pool), dtype=np.float64)
        best = s.max()
        if s[0] >= best:
            credit += 1.0 / int(np.sum(s >= best))
    return credit / len(pools)


# ----------------------------------------------------------------------------- generated-text metrics

_EDGE_PUNCT = "".join(c for c in string.punctuation if c not in "#@")
_HASHTAG = regex.compile(r"#\w+")
_MENTION = regex.compile(r"(?<![\w.])@[\w.]+")


def words(text: str) -> list[str]:
    """Lower-cased whitespace words with surrounding punctuation trimmed ('#tags' and '@names' kept)."""
    out = []
    for raw in text.lower().split():
        w = raw.strip(_EDGE_PUNCT)
        if w:
            out.append(w)
    return out


def distinct_2(texts: Iterable[str]) -> float:
    """Unique word bigrams / all word bigrams over all captions (1 = never repeats a bigram)."""
    seen: set[tuple[str, str]] = set()
    total = 0
    for text in texts:
        ws = words(text)
        for pair in itertools.pairwise(ws):
            seen.add(pair)
            total += 1
    return len(seen) / total if total else 0.0


def known_word_share(texts: Iterable[str], training_words: set[str]) -> float:
    """Share of generated words (all occurrences) that occur somewhere in the training captions."""
    hits = total = 0
    for text in texts:
        for w in words(text):
            total += 1
            hits += w in training_words
    return hits / total if total else 0.0


def vocabulary_of(captions: Iterable[str]) -> set[str]:
    return {w for c in captions for w in words(c)}


def copy_share(texts: Sequence[str], training_captions: set[str]) -> float:
    """Share of generated captions equal (after trimming whitespace) to some training caption."""
    if not texts:
        return 0.0
    return sum(t.strip() in training_captions for t in texts) / len(texts)


def is_degenerate(text: str, ended: bool, span: int = 24, max_period: int = 12) -> bool:
    """True when a caption ran to the length cap repeating one character or one word.

    It must not have ended by EOS, and its last `span` characters must repeat a unit of at most
    `max_period` characters ('aaaa', 'hahaha', '#love #love #love') at least twice.
    """
    if ended:
        return False
    tail = text.rstrip()[-span:]
    if len(tail) < span:
        return False
    for p in range(1, max_period + 1):
        if span // p >= 2 and all(tail[k] == tail[k - p] for k in range(p, span)):
            return True
    return False


def degenerate_share(texts: Sequence[str], ended: Sequence[bool]) -> float:
    if not texts:
        return 0.0
    return sum(is_degenerate(t, e) for t, e in zip(texts, ended, strict=True)) / len(texts)


def hashtag_share(texts: Sequence[str]) -> float:
    """Share of captions with at least one #hashtag."""
    return sum(bool(_HASHTAG.search(t)) for t in texts) / len(texts) if texts else 0.0


def mention_share(texts: Sequence[str]) -> float:
    """Share of captions with at least one @mention."""
    return sum(bool(_MENTION.search(t)) for t in texts) / len(texts) if texts else 0.0


def ended_share(ended: Sequence[bool]) -> float:
    """Share of captions that stopped by EOS before the length cap."""
    return sum(bool(e) for e in ended) / len(ended) if ended else 0.0


def scene_accuracy(
    texts: Sequence[str], scenes: Sequence[str | None], scene_of: Callable[[str], str | None]
) -> float | None:
    """Share of captions (of photos whose scene is known) that name the photo's true scene.

    A caption naming no scene, or two scenes equally, counts as wrong. None when no scene is known.
    """
    pairs = [(t, s) for t, s in zip(texts, scenes, strict=True) if s is not None]
    if not pairs:
        return None
    return sum(scene_of(t) == s for t, s in pairs) / len(pairs)
