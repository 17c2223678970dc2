"""Beam search and PMI re-ranking: through either network, and scored as eval scores."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from instacap import numpy_model, rerank
from instacap.config import SampleConfig
from instacap.sampling import generate
from instacap.scoring import caption_nats

D = 6

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _feats(p: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((p, D)).astype(np.float32)


def _texts(out):
    return [[c.text for c in caps] for caps in out]


def test_a_beam_of_one_is_greedy_decoding(model_vocab):
    model, vocab = model_vocab
    greedy = generate(model, vocab, _feats(3), SampleConfig(n=1, temperature=0.0, max_len=30))
    beam1 = generate(model, vocab, _feats(3), SampleConfig(n=1, beam=1, max_len=30))
    assert _texts(beam1) == _texts(greedy)


def test_beam_captions_are_distinct_best_first_and_the_same_with_either_network(model_vocab):
    model, vocab = model_vocab
    config = SampleConfig(n=3, beam=4, max_len=30)
    out = generate(model, vocab, _feats(3), config)
    for caps in out:
        assert len(caps) == 3 and len({c.text for c in caps}) == 3
        means = [c.mean_logprob for c in caps]
        assert means == sorted(means, reverse=True)
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    twin = numpy_model.build(model.config, vocab.size, D, weights)
    assert _texts(generate(twin, vocab, _feats(3), config)) == _texts(out)
    # A wider beam finds captions at least as likely as the greedy one, photo by photo.
    greedy = generate(model, vocab, _feats(3), dataclasses.replace(config, n=1, beam=1))
    for caps, (g,) in zip(out, greedy, strict=True):
        assert caps[0].mean_logprob >= g.mean_logprob - 1e-5


def _mean_lp(model, photo: np.ndarray, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Mean log-probability per token of captions ids under one photo, as eval computes it."""
    rows = np.repeat(photo[None], len(ids), axis=0)
    return -caption_nats(model, rows, ids, lengths) / (lengths - 1)


def test_reranked_captions_are_ordered_by_pmi_as_eval_scores_it(model_vocab):
    model, vocab = model_vocab
    feats, reference = _feats(2), _feats(5, seed=1)
    config = SampleConfig(n=3, seed=0, max_len=25, rerank=True)
    out = generate(model, vocab, feats, config, reference=reference)
    assert [len(caps) for caps in out] == [3, 3]
    for p, caps in enumerate(out):
        scores = [c.pmi for c in caps]
        assert scores == sorted(scores, reverse=True)
        ids = rerank.caption_ids(
            [[vocab.id(t) for t in c.tokens] for c in caps], [c.ended for c in caps]
        )
        lengths = (ids != 0).sum(1)
        expected = _mean_lp(model, feats[p], ids, lengths) - np.mean(
            [_mean_lp(model, r, ids, lengths) for r in reference], axis=0
        )
        np.testing.assert_allclose(scores, expected, atol=1e-4)
    # Without reference photos there is nothing to compare with: plain decoding order.
    plain = generate(model, vocab, feats, dataclasses.replace(config, rerank=False))
    assert _texts(generate(model, vocab, feats, config, reference=None)) == _texts(plain)
