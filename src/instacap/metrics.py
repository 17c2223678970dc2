"""The metrics of `instacap eval` as pure functions: arrays and strings in, numbers out, so each
can be checked on hand-made inputs (DESIGN.md §6). `evaluation` wires them to a run and a data set.
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
# Caption i belongs to photo i.
ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def retrieval_blocks(n: int, candidates: int, limit: int, seed: int) -> list[np.ndarray]:
    """Photos for retrieval: a seeded subset of at most `limit` of range(n) (0 = all), dealt into
    blocks of at most `candidates` photos of nearly equal size. Inside a block every photo's true
    caption competes with the captions of all the block's other photos."""
    rng = np.random.default_rng(seed)
    who = rng.permutation(n) if limit <= 0 or n <= limit else rng.choice(n, limit, replace=False)
    parts = max(1, math.ceil(len(who) / candidates))
    return [np.sort(b) for b in np.array_split(who, parts) if len(b)]


def score_matrix(block: np.ndarray, score: ScoreFn) -> np.ndarray:
    """S [P, P]: S[i, j] = score of caption block[j] given photo block[i] (one call, batched)."""
    p = len(block)
    return np.asarray(score(np.repeat(block, p), np.tile(block, p)), np.float64).reshape(p, p)


def retrieval_credit(
    scores: np.ndarray, texts: Sequence[str], tol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Per photo of a block: (credit [P] in 0..1, pool size [P]).

    Each caption's score is first taken relative to its mean over the block's photos (how much
    more likely this photo makes the caption than photos in general). Without that, the caption
    that is likeliest in general wins for every photo and the number says nothing about the photo.
    Rivals with the true caption's exact text are left out (picking one is no mistake). A tie at
    the top (within `tol`) is shared, so a model that ignores the photo lands exactly on chance.
    """
    rel = scores - scores.mean(axis=0, keepdims=True)  # [P, P]
    texts_a = np.array(texts, dtype=object)
    credit = np.zeros(len(texts))
    size = np.zeros(len(texts), dtype=np.int64)
    for i in range(len(texts)):
        rivals = (texts_a != texts_a[i]) | (np.arange(len(texts)) == i)
        row = rel[i, rivals]
        mine = rel[i, i]
        size[i] = int(rivals.sum())
        if mine >= row.max() - tol:
            credit[i] = 1.0 / int(np.sum(row >= mine - tol))
    return credit, size


def retrieval_at_1(
    blocks: Sequence[np.ndarray], captions: Sequence[str], score: ScoreFn
) -> tuple[float, float]:
    """(share of photos whose true caption ranks first among its block's, chance of the same)."""
    credits, sizes = [], []
    for block in blocks:
        c, n = retrieval_credit(score_matrix(block, score), [captions[i] for i in block])
        credits.append(c)
        sizes.append(n)
    if not credits:
        return float("nan"), float("nan")
    return float(np.concatenate(credits).mean()), float((1.0 / np.concatenate(sizes)).mean())


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


def is_degenerate(text: str, ended: bool, min_span: int = 24, max_period: int = 50) -> bool:
    """True when a caption ran to the length cap going round in a loop.

    It must not have ended by EOS, and its tail must repeat one unit of at most `max_period`
    characters at least twice, over at least `min_span` characters: one character ('aaaa'), one
    word ('#love #love #love') or one phrase ('in the woods with no signal in the woods with ...').
    """
    if ended:
        return False
    text = text.rstrip()
    for p in range(1, max_period + 1):
        span = max(min_span, 2 * p)
        if len(text) < span:
            break
        tail = text[-span:]
        if tail[p:] == tail[:-p]:  # periodic with period p
            return True
    return False


def repeats_hashtag(text: str) -> bool:
    """True when a caption writes one hashtag twice ("#love #love"; case-insensitive, as
    Instagram compares tags): the short form of the hashtag loop, even when the caption ended."""
    tags = [t.lower() for t in _HASHTAG.findall(text)]
    return len(set(tags)) < len(tags)


def degenerate_share(texts: Sequence[str], ended: Sequence[bool]) -> float:
    """Share of captions that loop: to the length cap (`is_degenerate`) or on a hashtag."""
    if not texts:
        return 0.0
    loops = (is_degenerate(t, e) or repeats_hashtag(t) for t, e in zip(texts, ended, strict=True))
    return sum(loops) / len(texts)


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
