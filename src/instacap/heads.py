"""The run's small heads beside the caption network: hashtag suggestions and reference photos.

- **Hashtags** (`instacap caption --hashtags 10`): a multi-label logistic regression from the
  photo's features (L2-normalised, as the caption network sees them) to each hashtag seen on at
  least `MIN_TAG_POSTS` training posts: one probability per tag that the post carries it. It is
  fitted in NumPy after the caption network (seconds; full-batch Adam with weight decay,
  on at most `FIT_POSTS` training posts), and
  suggestions need NumPy only, so `caption` stays torch-free.
- **Reference photos** for re-ranking (`rerank.py`): `REFERENCE` training photos picked with the
  training seed, the "photos in general" that a caption's likelihood under its own photo is
  compared with.

Both live in `runs/<name>/heads.npz`; `heads.json` beside it lists the tags and records the
SHA-256 of heads.npz, so a file changed after training is refused like the network's weights. A
run trained before heads existed has neither: no suggestions, and captions in likelihood order.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import regex

from instacap import accounts, runs
from instacap.dataload import Dataset
from instacap.errors import CheckpointError
from instacap.files import write_atomic

HEADS_FILE, HEADS_META = runs.HEADS_FILE, runs.HEADS_META  # runs owns the folder's file names
MIN_TAG_POSTS = 5  # a tag must be on at least this many training posts to be suggested
MAX_TAGS = 2000  # the most frequent ones at most: the head stays a few MB even on big data
REFERENCE = 8  # reference photos for re-ranking (each costs one more scoring pass)
# Training posts the head is fitted on, at most (a seeded sample above that): the full-batch fit
# holds a [posts, tags] matrix and costs time per post, gigabytes and hours at a million posts.
FIT_POSTS = 20_000
_STEPS, _LR, _DECAY = 300, 0.05, 1e-4  # Adam on the mean binary cross-entropy
_TAG = regex.compile(r"#(\w+)")


def tags_of(caption: str) -> set[str]:
    """The hashtags of a caption, lower-cased with '#' (Instagram ignores case)."""
    return {"#" + t.lower() for t in _TAG.findall(caption)}


@dataclass(frozen=True)
class Hashtag:
    tag: str  # "#sunset", lower-cased
    score: float  # the head's probability that a post with this photo carries it

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "score": round(self.score, 4)}


@dataclass(frozen=True)
class Heads:
    tags: tuple[str, ...]  # the tags the head knows, most frequent first
    posts: tuple[int, ...]  # training posts that carry each tag (the frequency baseline)
    weight: np.ndarray  # [D, T]
    bias: np.ndarray  # [T]
    reference: np.ndarray  # [R, D] features of the reference photos (R = 0 for a text-only run)

    def scores(self, feats: np.ndarray) -> np.ndarray:
        """feats [P, D] -> [P, T]: the probability that a post with this photo carries each tag."""
        if not self.tags:
            return np.zeros((len(feats), 0), np.float32)
        logits = _normalized(feats) @ self.weight + self.bias
        return np.asarray(0.5 * (1 + np.tanh(0.5 * logits)), np.float32)

    def suggest(self, feats: np.ndarray, k: int) -> list[list[Hashtag]]:
        """The `k` likeliest tags for each photo of feats [P, D], best first."""
        out = []
        for row in self.scores(feats):
            top = np.argsort(-row, kind="stable")[:k]
            out.append([Hashtag(self.tags[i], float(row[i])) for i in top])
        return out

    def frequent(self, k: int) -> list[str]:
        """The baseline: the `k` tags on most training posts, whatever the photo."""
        return list(self.tags[:k])


def _normalized(feats: np.ndarray) -> np.ndarray:
    x = np.asarray(feats, np.float32)
    if x.shape[1] == 0:
        return x
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def fit(
    feats: np.ndarray, captions: Sequence[str], seed: int, image_dim: int | None = None
) -> Heads:
    """Fit the hashtag head on training posts (feats [N, D], their captions) and pick the
    reference photos among them (their first `image_dim` features: the photo, not the account)."""
    per_post = [tags_of(c) for c in captions]
    counts = Counter(t for tags in per_post for t in tags)
    kept = [(t, n) for t, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]
    kept = [(t, n) for t, n in kept if n >= MIN_TAG_POSTS][:MAX_TAGS]
    index = {t: i for i, (t, _) in enumerate(kept)}
    y = np.zeros((len(captions), len(kept)), np.float32)  # [N, T]
    for row, tags in enumerate(per_post):
        for t in tags:
            if t in index:
                y[row, index[t]] = 1.0
    x = _normalized(feats)
    weight, bias = _logistic(x, y)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(feats), size=min(REFERENCE, len(feats)), replace=False)
    image_dim = feats.shape[1] if image_dim is None else image_dim
    reference = np.asarray(feats, np.float32)[np.sort(pick), :image_dim]
    if image_dim == 0:  # a text-only run: no photo to compare with
        reference = reference[:0]
    return Heads(
        tags=tuple(t for t, _ in kept),
        posts=tuple(n for _, n in kept),
        weight=weight,
        bias=bias,
        reference=reference,
    )


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent logistic regressions x [N, D] -> y [N, T] in one: full-batch Adam."""
    N, D = x.shape
    T = y.shape[1]
    prior = (y.sum(0) + 0.5) / (N + 1.0)
    w = np.zeros((D, T), np.float32)
    b = np.log(prior / (1 - prior)).astype(np.float32)  # start at each tag's frequency
    if T == 0 or D == 0 or N == 0:
        return w, b
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    for t in range(1, _STEPS + 1):
        p = 0.5 * (1 + np.tanh(0.5 * (x @ w + b)))  # [N, T]
        err = (p - y) / N
        grads = [x.T @ err + _DECAY * w, err.sum(0)]
        for k, (param, g) in enumerate(zip((w, b), grads, strict=True)):
            m[k] = 0.9 * m[k] + 0.1 * g
            v[k] = 0.999 * v[k] + 0.001 * g * g
            step = _LR * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8)
            param -= step.astype(np.float32)
    return w, b


def build(run_path: Path, dataset: Dataset, seed: int) -> Heads:
    """Fit the heads on a data set's training split and save them in the run folder (what
    `training.fit` does once the network is trained). With account style the head reads the
    account too (training posts' slots, "any" for some, as the network learned them)."""
    train = dataset.train
    table = accounts.for_training(train.accounts)
    slots = table.training_slots(train.accounts, seed) if table else None
    pick = np.arange(len(train))
    if len(pick) > FIT_POSTS:  # a seeded sample, in the split's order
        pick = np.sort(np.random.default_rng([seed, 0x7A65]).choice(len(pick), FIT_POSTS, False))
    which = slots[pick] if slots is not None else 0
    feats = accounts.condition(train.features(pick), table, which)
    captions = train.captions
    found = fit(feats, [captions[i] for i in pick], seed, image_dim=dataset.feature_dim)
    save(run_path, found)
    return found


def save(run_path: Path, heads: Heads) -> None:
    """Write heads.npz, then heads.json naming its hash (each atomically): a kill in between
    leaves a heads.npz that heads.json refuses, never a half-written file."""
    data = runs.arrays_bytes(
        {"weight": heads.weight, "bias": heads.bias, "reference": heads.reference}
    )
    write_atomic(run_path / HEADS_FILE, data)
    info = {"sha256": hashlib.sha256(data).hexdigest(), "tags": list(heads.tags),
            "posts": list(heads.posts), "min_tag_posts": MIN_TAG_POSTS}  # fmt: skip
    write_atomic(run_path / HEADS_META, (json.dumps(info, ensure_ascii=False) + "\n").encode())


def load(run_path: Path) -> Heads | None:
    """The run's heads, or None for a run trained before they existed (no heads.json).
    CheckpointError when heads.npz is missing, damaged or changed since training."""
    try:
        info: Any = json.loads((run_path / HEADS_META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"{run_path / HEADS_META} is damaged ({exc}); train the run again."
        ) from exc
    try:
        arrays = runs.load_arrays(run_path / HEADS_FILE, {str(info["sha256"])})
        heads = Heads(
            tags=tuple(str(t) for t in info["tags"]),
            posts=tuple(int(n) for n in info["posts"]),
            weight=arrays["weight"],
            bias=arrays["bias"],
            reference=arrays["reference"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{run_path / HEADS_FILE} does not fit {HEADS_META} ({exc}); train the run again."
        ) from exc
    if heads.weight.shape[1:] != (len(heads.tags),) or heads.bias.shape != (len(heads.tags),):
        raise CheckpointError(f"{run_path / HEADS_FILE} does not fit {HEADS_META}; train again.")
    return heads
