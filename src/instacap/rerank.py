"""Re-ranking captions by how much the photo explains them (pointwise mutual information).

Likelihood order favours whatever the model finds likely for any photo ("woods 🌳" is likely
under every forest picture, and short captions are likely everywhere). PMI asks instead how much
likelier *this* photo makes a caption than photos in general: its mean log-probability per token
under this photo minus its mean log-probability under a fixed set of other photos (the run's
reference photos, `heads.REFERENCE`). It is the score that eval's retrieval@1 ranks captions by.

Scoring feeds the caption's tokens to the network through the same `Starter` that decoding uses
(feats -> step function), so it works with any network behind that interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from instacap.beam import Starter
from instacap.tokenizer import BOS, EOS, PAD, Vocab

CANDIDATES = 4  # candidates written per caption asked for
_ROWS = 2048  # captions scored together at most (memory stays flat)


def order(
    start: Starter,
    vocab: Vocab,
    feats: np.ndarray,
    pool: Sequence[Sequence[Any]],
    reference: np.ndarray,
    n: int,
) -> list[list[tuple[Any, float]]]:
    """For each photo of feats [P, D], its candidate captions pool[p] (`sampling.Caption`s) ->
    the `n` with the highest PMI, best first, each with its score. A text already kept is kept
    again only when too few different ones were written."""
    flat = [(p, c) for p, caps in enumerate(pool) for c in caps]
    ids = caption_ids(
        [[vocab.id(t) for t in c.tokens] for _, c in flat], [c.ended for _, c in flat]
    )
    photo = np.array([p for p, _ in flat], dtype=np.int64)
    scores = pmi(start, feats, ids, photo, reference)
    out, k = [], 0
    for caps in pool:
        mine = scores[k : k + len(caps)]
        k += len(caps)
        ranked = sorted(range(len(caps)), key=lambda i: -mine[i])
        first: dict[str, int] = {}  # text -> its best candidate
        for i in ranked:
            first.setdefault(caps[i].text, i)
        again = [i for i in ranked if i not in first.values()]
        out.append([(caps[i], float(mine[i])) for i in [*first.values(), *again][:n]])
    return out


def caption_ids(token_ids: list[list[int]], ended: list[bool]) -> np.ndarray:
    """Token ids of captions (without BOS/EOS) -> ids [N, T]: BOS, tokens, EOS when it ended, PAD."""
    T = 2 + max((len(t) for t in token_ids), default=0)
    ids = np.full((len(token_ids), T), PAD, dtype=np.int64)
    ids[:, 0] = BOS
    for i, (toks, end) in enumerate(zip(token_ids, ended, strict=True)):
        ids[i, 1 : 1 + len(toks)] = toks
        if end:
            ids[i, 1 + len(toks)] = EOS
    return ids


def mean_logprobs(start: Starter, feats: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Mean natural-log probability per token of captions ids [N, T] (BOS first, PAD after the
    end) given photos feats [N, D] -> [N]. Every token after BOS counts, EOS included."""
    out = np.zeros(len(ids), np.float64)
    for s in range(0, len(ids), _ROWS):
        part = slice(s, s + _ROWS)
        out[part] = _mean_logprobs(start, feats[part], ids[part])
    return out


def _mean_logprobs(start: Starter, feats: np.ndarray, ids: np.ndarray) -> np.ndarray:
    lengths = (ids != PAD).sum(1)  # [B] tokens incl. BOS
    T = int(lengths.max()) if len(lengths) else 0
    step = start(np.asarray(feats, np.float32))
    total = np.zeros(len(ids), np.float64)
    for t in range(T - 1):
        logits = np.asarray(step(ids[:, : t + 1]), np.float64)  # [B, V]
        target = ids[:, t + 1]
        top = logits.max(-1)
        lse = top + np.log(np.exp(logits - top[:, None]).sum(-1))
        lp = logits[np.arange(len(ids)), target] - lse
        total += np.where(target != PAD, lp, 0.0)
    return total / np.maximum(lengths - 1, 1)


def pmi(
    start: Starter, feats: np.ndarray, ids: np.ndarray, photo: np.ndarray, reference: np.ndarray
) -> np.ndarray:
    """PMI of captions ids [N, T] with their photos: photo [N] indexes feats [P, D] (the photo
    caption i is for), reference [R, D] the other photos. -> [N], higher = the photo explains
    the caption better."""
    own = mean_logprobs(start, feats[photo], ids)
    R = len(reference)
    if R == 0:
        return own
    # Every caption under every reference photo: rows caption-major, [N * R]. Reference photos
    # are photos only: what follows the photo in feats (the account asked for) is the caption's own.
    rows = np.tile(reference, (len(ids), 1))  # [N * R, D]
    rest = np.repeat(feats[photo][:, reference.shape[1] :], R, axis=0)  # [N * R, A]
    under = mean_logprobs(start, np.concatenate([rows, rest], axis=1), np.repeat(ids, R, axis=0))
    return np.asarray(own - under.reshape(len(ids), R).mean(1))
