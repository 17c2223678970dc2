"""Scoring real captions with a run's model: how likely it finds each caption under its own photo
and under another one (bpc, image gain) and which caption it picks for a photo (retrieval@1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from instacap.config import EvalConfig
from instacap.evalpool import Pool, all_features
from instacap.metrics import (
    bpc_from_totals,
    derangement,
    image_gain,
    retrieval_at_1,
    retrieval_blocks,
)
from instacap.progress import SILENT, Reporter


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


def photo_with(pool: Pool, photos: np.ndarray, posts: np.ndarray, image_dim: int) -> np.ndarray:
    """What the network reads for post `posts[i]` shown with photo `photos[i]`: the photo's image
    features and the post's own account slot (whatever follows the first `image_dim` features)."""
    feats = pool.features(posts)
    feats[:, :image_dim] = pool.features(photos)[:, :image_dim]
    return feats


def likelihood_metrics(
    model: Any, pool: Pool, config: EvalConfig, reporter: Reporter = SILENT, image_dim: int = -1
) -> dict[str, Any]:
    """bpc with the right photos and with deranged photos (the account kept), bpc with deranged
    accounts (the photo kept: style gain, None without account slots) and retrieval@1 among
    `candidates`. `image_dim`: the photo's part of the features (-1: all of them)."""
    width = all_features(pool).shape[1]
    image_dim = width if image_dim < 0 else image_dim
    own = np.arange(len(pool))
    counts = pool.lengths - 1  # targets: every token after BOS, EOS included
    reporter.start("scoring captions", total=3)
    bpc = bpc_from_totals(
        caption_nats(model, all_features(pool), pool.ids, pool.lengths, config.batch_size), counts
    )
    reporter.advance("scoring captions")
    if len(pool) >= 2:
        perm = derangement(len(pool), config.seed)
        wrong = photo_with(pool, perm, own, image_dim)
        shuffled = caption_nats(model, wrong, pool.ids, pool.lengths, config.batch_size)
        bpc_shuffled = bpc_from_totals(shuffled, counts)
    else:
        bpc_shuffled = float("nan")
    style = style_gain(model, pool, config, image_dim, bpc) if image_dim < width else None
    reporter.advance("scoring captions")

    # Retrieval: a seeded subset of photos in blocks of up to 100, every caption under every photo.
    blocks = retrieval_blocks(len(pool), config.candidates, config.retrieval_photos, config.seed)

    def score(photos: np.ndarray, caps: np.ndarray) -> np.ndarray:
        # Mean log-probability per token, so that a short caption does not win by being short.
        feats = photo_with(pool, photos, caps, image_dim)
        nats = caption_nats(model, feats, pool.ids[caps], pool.lengths[caps], config.batch_size)
        return -nats / counts[caps]

    retrieval, chance = retrieval_at_1(blocks, pool.captions, score)
    reporter.advance("scoring captions")
    return {
        "bpc": bpc,
        "bpc_shuffled": bpc_shuffled,
        "image_gain": image_gain(bpc, bpc_shuffled),
        "style_gain": style,
        "retrieval_at_1": retrieval,
        "retrieval_chance": chance,
        "retrieval_photos": sum(len(b) for b in blocks),
        "retrieval_candidates": max((len(b) for b in blocks), default=0),
    }


def style_gain(
    model: Any, pool: Pool, config: EvalConfig, image_dim: int, bpc: float
) -> float | None:
    """bpc with every post's account replaced by another one minus bpc with its own: the
    accounts the pool's posts have (the "any" slot aside) are mapped by a seeded derangement of
    them, so no post keeps its account and every one gets a real one. None with fewer than two."""
    feats = all_features(pool)
    slots = feats[:, image_dim:].argmax(1)  # [N]
    kinds = np.unique(slots[slots != feats.shape[1] - image_dim - 1])
    if len(kinds) < 2:
        return None
    to = dict(
        zip(kinds.tolist(), kinds[derangement(len(kinds), config.seed)].tolist(), strict=True)
    )
    moved = np.array([to.get(int(s), int(s)) for s in slots])
    wrong = feats.copy()
    wrong[:, image_dim:] = 0.0
    wrong[np.arange(len(pool)), image_dim + moved] = 1.0
    counts = pool.lengths - 1
    nats = caption_nats(model, wrong, pool.ids, pool.lengths, config.batch_size)
    return bpc_from_totals(nats, counts) - bpc
