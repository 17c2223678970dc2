"""Beam search: the `width` likeliest captions of each photo, all photos decoded as one batch.

Sampling draws one token at a time at random; beam search keeps, for every photo, the `width`
prefixes with the highest mean log-probability per token so far (EOS counts as a token, as in
`Caption.mean_logprob`), extends each by every token, and keeps the best `width` again. A prefix
that wrote EOS is finished: it keeps its score and competes with the live ones. The mean, not
the sum, decides, so a short caption does not win just by being short. The search stops when
the `keep` best beams of every photo are finished (a live beam could in principle still climb
past them, but waiting for every beam to end lets one looping beam run to the length cap).

The network is reached only through a `Starter` (feats -> step function, see `sampling`), which
keeps its own state for a fixed batch of rows, whatever the network (LSTM or transformer). When
the kept prefixes come from other rows than before, a step function that offers
`reorder(rows)` (an attribute: row i continues from row rows[i]) is asked to follow them; one that
does not (the NumPy networks today) is started again and fed the kept prefixes. Captions are
short, so replaying costs little for one photo (5 beams of a 40-token caption: about 0.1 s on an
idle CPU), but the cost grows with the square of the caption length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from instacap.tagguard import TagGuard
from instacap.tokenizer import BOS, EOS, PAD, Vocab

# prefix [B, t] -> logits [B, V] of the next token (numpy_model.StepFn).
StepFn = Callable[[np.ndarray], np.ndarray]
Starter = Callable[[np.ndarray], StepFn]
# logits [B, V], last tokens [B], run lengths [B], guard -> logits with forbidden tokens at -inf.
Guard = Callable[[np.ndarray, np.ndarray, np.ndarray, TagGuard | None], np.ndarray]


@dataclass(frozen=True)
class Beams:
    """The result for P photos and `width` beams each, best first within each photo."""

    ids: np.ndarray  # [P, width, T] tokens after BOS: ... EOS then PAD
    logps: np.ndarray  # [P, width, T] log p of each token (0 after the end)
    ended: np.ndarray  # [P, width] bool: wrote EOS before the length cap


def search(
    vocab: Vocab,
    feats: np.ndarray,
    start: Starter,
    width: int,
    max_len: int,
    guard: Guard,
    tag_guard: bool = True,
    keep: int = 1,
) -> Beams:
    """Beam search over photos feats [P, D]; `guard` forbids tokens as sampling does; `keep`:
    the beams per photo that are wanted (see the stopping rule above)."""
    P, K = feats.shape[0], width
    rows = np.repeat(np.asarray(feats, np.float32), K, axis=0)  # [P*K, D]: photo p's beams adjacent
    beams = _Frontier(P, K, max_len, TagGuard(vocab, P * K) if tag_guard else None)
    step = start(rows)
    t = 0
    for t in range(max_len - 1):
        logits = np.asarray(step(beams.ids[:, : t + 1]), np.float32)  # [P*K, V]
        parent = beams.advance(
            _log_softmax(guard(logits, beams.ids[:, t], beams.run, beams.tags)), t
        )
        if _settled(beams.mean(), beams.done, P, K, keep):
            break
        if not np.array_equal(parent, np.arange(P * K)):
            reorder = getattr(step, "reorder", None)
            if reorder is None or not reorder(parent):
                step = _replay(start, rows, beams.ids[:, : t + 2])
    return beams.result(t + 1)


class _Frontier:
    """The P*K beams being searched: their tokens, scores and guards, photo p's rows adjacent."""

    def __init__(self, P: int, K: int, L: int, tags: TagGuard | None) -> None:
        self.P, self.K = P, K
        self.ids = np.full((P * K, L), PAD, dtype=np.int64)  # [P*K, L]
        self.ids[:, 0] = BOS
        self.logps = np.zeros((P * K, L), np.float32)  # log p of token t (column 0: BOS)
        self.total = np.zeros(P * K, np.float64)  # summed log p
        self.total.reshape(P, K)[:, 1:] = -np.inf  # one live beam per photo to start with
        self.count = np.zeros(P * K, np.int64)  # tokens scored so far
        self.done = np.zeros(P * K, dtype=bool)
        self.run = np.zeros(P * K, dtype=np.int64)  # length of the current token run
        self.tags = tags

    def mean(self) -> np.ndarray:
        return np.asarray(self.total / np.maximum(self.count, 1))

    def advance(self, logp: np.ndarray, t: int) -> np.ndarray:
        """Keep the K best one-token extensions per photo (logp [P*K, V], guarded) as token t+1;
        -> the row each kept beam came from [P*K]."""
        P, K, V = self.P, self.K, logp.shape[1]
        # A finished beam has one continuation, PAD, at no cost.
        logp[self.done] = -np.inf
        logp[self.done, PAD] = 0.0
        added = (~self.done).astype(np.int64)  # finished beams do not lengthen
        with np.errstate(invalid="ignore"):
            score = (self.total[:, None] + logp) / (self.count + added)[:, None].clip(min=1)
        score[~np.isfinite(score)] = -np.inf  # [P*K, V]
        best = np.argsort(-score.reshape(P, K * V), axis=1, kind="stable")[:, :K]  # [P, K]
        parent = (best // V + np.arange(P)[:, None] * K).reshape(-1)
        token = (best % V).reshape(-1)
        chosen = logp[parent, token]
        alive = np.isfinite(chosen)
        self.ids, self.logps = self.ids[parent], self.logps[parent]
        done = self.done[parent]
        self.ids[:, t + 1] = np.where(done, PAD, token)
        self.logps[:, t + 1] = np.where(done | ~alive, 0.0, chosen)
        total = self.total[parent] + np.where(done, 0.0, chosen)
        self.total = np.where(alive, total, -np.inf)
        self.count = self.count[parent] + (~done)
        self.run = np.where(token == self.ids[:, t], self.run[parent] + 1, 1)
        if self.tags is not None:
            self.tags.reorder(parent)
            self.tags.advance(self.ids[:, t + 1])
        self.done = done | (token == EOS)
        return parent

    def result(self, T: int) -> Beams:
        """The beams after T tokens, best first within each photo."""
        P, K = self.P, self.K
        ids = self.ids[:, 1 : T + 1].reshape(P, K, T)
        logps = self.logps[:, 1 : T + 1].reshape(P, K, T)
        ended = (ids == EOS).any(-1)
        order = np.argsort(-self.mean().reshape(P, K), axis=1, kind="stable")
        pick = np.arange(P)[:, None]
        return Beams(ids[pick, order], logps[pick, order], ended[pick, order])


def _settled(mean: np.ndarray, done: np.ndarray, P: int, K: int, keep: int) -> bool:
    """Whether the `keep` best beams (by mean [P*K]) of every photo have finished."""
    order = np.argsort(-mean.reshape(P, K), axis=1, kind="stable")[:, :keep]
    return bool(np.take_along_axis(done.reshape(P, K), order, axis=1).all())


def _replay(start: Starter, rows: np.ndarray, prefix: np.ndarray) -> StepFn:
    """A step function started afresh on `rows` and fed prefix [B, t] except its last token,
    which the next call feeds (as if it had decoded these prefixes itself)."""
    step = start(rows)
    for s in range(1, prefix.shape[1]):
        step(prefix[:, :s])
    return step


def _log_softmax(x: np.ndarray) -> np.ndarray:
    top = np.max(np.where(np.isfinite(x), x, -np.inf), axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return x - top - np.log(np.exp(x - top).sum(-1, keepdims=True))
