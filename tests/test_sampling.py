"""Decoding: the stateful batch generator, its settings, and the repetition guard."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from instacap import metrics
from instacap.config import SampleConfig
from instacap.errors import InputError
from instacap.sampling import generate, generate_prefix, sample_config

D = 6


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _feats(p: int = 2) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((p, D)).astype(np.float32)


@pytest.mark.parametrize(
    "config",
    [
        SampleConfig(n=3, seed=7, max_len=40),
        SampleConfig(n=2, seed=1, max_len=30, temperature=1.3, top_k=5, top_p=1.0),
        SampleConfig(n=2, seed=3, max_len=30, temperature=0.0),
    ],
)
def test_stateful_generator_matches_prefix_method(model_vocab, config):
    model, vocab = model_vocab
    fast = generate(model, vocab, _feats(), config)
    slow = generate_prefix(model, vocab, _feats(), config)
    assert [[c.tokens for c in caps] for caps in fast] == [
        [c.tokens for c in caps] for caps in slow
    ]
    assert [[c.ended for c in caps] for caps in fast] == [[c.ended for c in caps] for caps in slow]
    for a, b in zip(
        [c for caps in fast for c in caps], [c for caps in slow for c in caps], strict=True
    ):
        assert a.mean_logprob == pytest.approx(b.mean_logprob, abs=1e-4)


def test_n_captions_per_photo_and_same_seed_same_captions(model_vocab):
    model, vocab = model_vocab
    config = SampleConfig(n=4, seed=11, max_len=25)
    first = generate(model, vocab, _feats(3), config)
    assert [len(caps) for caps in first] == [4, 4, 4]
    again = generate(model, vocab, _feats(3), config)
    assert [[c.text for c in caps] for caps in first] == [[c.text for c in caps] for caps in again]
    other = generate(model, vocab, _feats(3), dataclasses.replace(config, seed=12))
    assert [[c.text for c in caps] for caps in first] != [[c.text for c in caps] for caps in other]


def test_captions_carry_probabilities_and_respect_the_length_cap(model_vocab):
    model, vocab = model_vocab
    (caps,) = generate(model, vocab, _feats(1), SampleConfig(n=5, seed=0, max_len=12))
    for c in caps:
        assert len(c.tokens) == len(c.probs) <= 11  # BOS + up to 10 tokens + EOS fit in 12
        assert c.text == "".join(c.tokens)
        assert all(0 < p <= 1 for p in c.probs)
        assert c.mean_logprob < 0
        assert "\ufffd" not in c.text  # UNK is never written


def test_repetition_guard_stops_one_character_loops(model_vocab):
    model, vocab = model_vocab
    # Make one character overwhelmingly likely after anything: without the guard the caption is
    # that character repeated up to the cap.
    with torch.no_grad():
        model.out.bias.zero_()
        model.out.bias[vocab.id("a")] = 50.0
    config = SampleConfig(n=3, seed=0, max_len=40, max_repeat=0)
    looped = generate(model, vocab, _feats(1), config)[0]
    assert all(c.text == "a" * 39 for c in looped)
    guarded = generate(model, vocab, _feats(1), dataclasses.replace(config, max_repeat=4))[0]
    for c in guarded:
        assert "aaaaa" not in c.text


def test_a_caption_never_writes_the_same_hashtag_twice(model_vocab):
    model, vocab = model_vocab
    # Only "#", "b" and space are likely: left alone, the captions soon repeat "#b" or "#bb".
    with torch.no_grad():
        model.out.bias.zero_()
        for ch in "#b ":
            model.out.bias[vocab.id(ch)] = 50.0
    config = SampleConfig(n=8, seed=0, max_len=60, max_repeat=0)
    looped = [c.text for c in generate(model, vocab, _feats(1), config)[0]]
    assert sum(metrics.repeats_hashtag(t) for t in looped) >= 4
    guarded = generate(model, vocab, _feats(1), dataclasses.replace(config, max_repeat=4))[0]
    for c in guarded:
        tags = re.findall(r"#\w+", c.text)
        assert len(tags) >= 2  # still writes hashtags, just never one twice
        assert not metrics.repeats_hashtag(c.text), c.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n": 0}, "--n must be at least 1"),
        ({"temperature": -0.5}, "--temperature"),
        ({"top_p": 0.0}, "--top-p must be in"),
        ({"top_p": 1.5}, "--top-p must be in"),
        ({"top_k": -1}, "--top-k"),
        ({"max_len": 1}, "--max-len"),
        ({"beams": 3}, "Unknown caption setting"),
        ({"beam": -1}, "--beam must be"),
    ],
)
def test_bad_settings_are_one_sentence(overrides, message):
    with pytest.raises(InputError, match=message):
        sample_config(**overrides)


def _run(model, vocab, **described):
    """A loaded run of `model`: trained on resnet50 features, as meta.json describes them."""
    from instacap.runs import Run, RunMeta

    meta = RunMeta(name="r", encoder="resnet50", feature_dim=D, vocab=vocab,
                   model_config=model.config, **described)  # fmt: skip
    return Run("r", Path("r"), model, meta)


def test_captioner_encodes_photos_with_the_weights_the_run_was_prepared_with(
    model_vocab, monkeypatch, tmp_path
):
    """A run prepared with `prep --weights FILE` must caption with that file, not the download."""
    from types import SimpleNamespace

    from instacap import encoders
    from instacap.sampling import Captioner

    asked = {}

    def fake_get(name, weights=None, device="cpu", **kw):
        asked.update(name=name, weights=weights)
        return SimpleNamespace(name=name, dim=D, key=name, weights_sha256=None)

    monkeypatch.setattr(encoders, "get", fake_get)
    model, vocab = model_vocab
    weights = tmp_path / "resnet50-mine.pth"
    run = _run(model, vocab, encoder_weights=str(weights))
    Captioner(run).encoder  # noqa: B018  (the property builds the encoder)
    assert asked == {"name": "resnet50", "weights": weights}


def test_captioner_refuses_an_encoder_that_gives_other_features_than_the_run_learned(
    model_vocab, monkeypatch, tmp_path
):
    """A `prep --weights FILE` run whose file changed since would caption from other features."""
    from types import SimpleNamespace

    from instacap import encoders
    from instacap.errors import CheckpointError
    from instacap.sampling import Captioner

    now = {"key": "resnet50-0badf00d"}
    monkeypatch.setattr(
        encoders, "get", lambda name, **kw: SimpleNamespace(key=now["key"], weights_sha256=None)
    )
    model, vocab = model_vocab
    weights = tmp_path / "resnet50-mine.pth"
    run = _run(model, vocab, encoder_weights=str(weights), encoder_key="resnet50-12345678")
    with pytest.raises(CheckpointError, match=r"resnet50-12345678.*resnet50-mine\.pth changed"):
        Captioner(run).encoder  # noqa: B018  (the property builds the encoder)
    now["key"] = "resnet50-12345678"  # the file as it was: captions as before
    assert Captioner(run).encoder.key == "resnet50-12345678"
