"""The photos `instacap eval` measures: a data set's validation split, or the posts of another data
set that a run has not trained on, gathered into one `Pool` (`load_pool`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from instacap import accounts
from instacap.config import EvalConfig
from instacap.dataload import Posts
from instacap.dataset import Dataset, Split
from instacap.errors import InputError
from instacap.progress import SILENT, Reporter
from instacap.runs import AnyRun
from instacap.tokenizer import Vocab

# The photos measured: a data set's split, or rows gathered from several (see `_pool_from`).
Pool = Split


def subset(n: int, limit: int, seed: int) -> np.ndarray:
    """All of range(n), or a seeded sorted sample of `limit` of them (limit 0 = all)."""
    if limit <= 0 or n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def load_pool(
    run: AnyRun, name: str | None, config: EvalConfig, reporter: Reporter = SILENT
) -> tuple[Pool, list[str], str]:
    """(photos to measure, the run's training captions, data set name).

    The run's own data set gives its validation split. Another data set (same encoder) gives all
    its posts the run did not train on, when the run's own data set is still there to tell which;
    otherwise its validation split.
    """
    from instacap import dataset as datasets
    from instacap.errors import NotReady

    target = datasets.load(name or run.dataset)
    if target.encoder != run.encoder or run.meta.feature_dim != target.feature_dim:
        raise InputError(
            f"Data set {target.name!r} holds {target.encoder!r} image features but run "
            f"{run.name!r} reads {run.encoder!r} features; prepare one with "
            f"`instacap prep --encoder {run.encoder}` and evaluate on that."
        )
    if target.name == run.dataset:
        fp = run.meta.dataset.fingerprint
        if fp and fp != target.fingerprint:
            reporter.note(
                f"Data set {target.name!r} changed since run {run.name!r} was trained; "
                "some validation posts may have been training posts."
            )
        parts = [(target.val, np.arange(len(target.val)))]
        train_captions = list(target.train.captions)
    else:
        parts, train_captions = _unseen_parts(run, target, reporter)
    pool = _with_accounts(_pool_from(parts, run.vocab, target), accounts.of_run(run.meta))
    if len(pool) < 2:
        raise NotReady(
            f"Data set {target.name!r} has fewer than two posts run {run.name!r} has not trained on; "
            "add posts and run `instacap prep` again."
        )
    return pool.take(subset(len(pool), config.max_photos, config.seed)), train_captions, target.name


def _unseen_parts(
    run: AnyRun, target: Dataset, reporter: Reporter
) -> tuple[list[tuple[Split, np.ndarray]], list[str]]:
    """The rows of another data set `target` that the run did not train on, and the run's training
    captions; its validation split when the run's own data set is gone and cannot tell which."""
    from instacap import dataset as datasets
    from instacap.errors import NotReady

    try:
        own = datasets.load(run.dataset)
    except NotReady:
        own = None
    if own is None:
        reporter.note(
            f"Run {run.name!r}'s own data set is gone, so its training posts cannot be told "
            f"apart; measuring on the validation split of {target.name!r}."
        )
        return [(target.val, np.arange(len(target.val)))], list(target.train.captions)
    seen = set(own.train.shortcodes)
    parts = [
        (split, np.array([i for i, s in enumerate(split.shortcodes) if s not in seen], np.int64))
        for split in (target.val, target.train)
    ]
    return parts, list(own.train.captions)


def _pool_from(parts: list[tuple[Split, np.ndarray]], vocab: Vocab, data: Dataset) -> Pool:
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
        posts=Posts.from_columns(shortcodes, accounts, captions, images, scenes),
    )


def _with_accounts(pool: Pool, slots: accounts.Slots | None) -> Pool:
    """The pool with each post's account slot after its image features (accounts.py), as the
    run reads them; an account the run does not know is "other"."""
    if slots is None:
        return pool
    matrix = accounts.condition(pool.matrix, slots, slots.index(pool.accounts))
    return Pool(pool.ids, pool.lengths, pool.feature_rows, matrix, pool.posts)


def all_features(pool: Pool) -> np.ndarray:
    """[N, D] float32 features of every photo of the pool, in order."""
    return pool.features(np.arange(len(pool)))
