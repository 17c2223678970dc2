"""`instacap eval`: each metric on hand-made inputs with a known answer, then the whole command."""

from __future__ import annotations

import math

import numpy as np
import pytest

from instacap import evaluation as ev

# ----------------------------------------------------------------------------- likelihood metrics


def test_bpc_counts_masked_tokens_only():
    # Two captions; every real target has p = 1/2 (1 bit); PAD positions hold garbage.
    lp = np.array([[math.log(0.5), math.log(0.5), -99.0], [math.log(0.5), -99.0, -99.0]])
    mask = np.array([[1, 1, 0], [1, 0, 0]], dtype=bool)
    assert ev.bits_per_char(lp, mask) == pytest.approx(1.0)


def test_bpc_of_certain_model_is_zero_and_uniform_is_log2_vocab():
    mask = np.ones((3, 5), dtype=bool)
    assert ev.bits_per_char(np.zeros((3, 5)), mask) == 0.0
    assert ev.bits_per_char(np.full((3, 5), -math.log(64)), mask) == pytest.approx(6.0)


def test_bpc_from_totals_weights_by_tokens():
    # 10 tokens at 1 bit and 30 tokens at 3 bits -> 100 bits / 40 tokens.
    nats = np.array([10 * math.log(2), 30 * 3 * math.log(2)])
    assert ev.bpc_from_totals(nats, np.array([10, 30])) == pytest.approx(2.5)


@pytest.mark.parametrize("n", [2, 3, 7, 100])
def test_derangement_moves_every_photo_and_is_seeded(n):
    perm = ev.derangement(n, seed=3)
    assert sorted(perm.tolist()) == list(range(n))
    assert not np.any(perm == np.arange(n))
    assert np.array_equal(perm, ev.derangement(n, seed=3))


def test_image_gain_is_zero_for_a_scorer_that_ignores_the_photo():
    rng = np.random.default_rng(0)
    lp = -rng.random((6, 4))  # per-token log-probs that depend on the caption only
    mask = np.ones_like(lp, dtype=bool)
    # With shuffled photos the scores do not change, so the gain is exactly zero.
    assert ev.image_gain(ev.bits_per_char(lp, mask), ev.bits_per_char(lp, mask)) == 0.0


def test_image_gain_of_a_scorer_sure_only_with_the_right_photo():
    mask = np.ones((6, 4), dtype=bool)
    # p = 1 with the right photo, p = 1/e with a wrong one: 1/ln 2 bits saved per token.
    gain = ev.image_gain(
        ev.bits_per_char(np.zeros((6, 4)), mask), ev.bits_per_char(-np.ones((6, 4)), mask)
    )
    assert gain == pytest.approx(1 / math.log(2))


def _pools(n=150, k=100):
    return ev.retrieval_pools([f"caption {i}" for i in range(n)], k, seed=0)


def test_retrieval_pools_hold_true_caption_first_and_distinct_others():
    pools = _pools()
    assert len(pools) == 150
    for i, pool in enumerate(pools):
        assert pool[0] == i and len(pool) == 100 and len(set(pool.tolist())) == 100
    small = ev.retrieval_pools(["a", "b", "c", "a"], 100, seed=0)
    assert sorted(small[0].tolist()) == [0, 1, 2]  # the other "a" is not a rival
    assert np.array_equal(_pools()[5], pools[5])


def test_perfect_scorer_retrieves_everything():
    assert ev.retrieval_at_1(_pools(), lambda p, c: (p == c).astype(float)) == 1.0


def test_constant_scorer_lands_on_chance():
    assert ev.retrieval_at_1(_pools(), lambda p, c: np.zeros(len(c))) == pytest.approx(0.01)


def test_adversarial_scorer_never_retrieves():
    assert ev.retrieval_at_1(_pools(), lambda p, c: -(p == c).astype(float)) == 0.0


# ----------------------------------------------------------------------------- generated-text metrics


def test_words_trim_punctuation_but_keep_tags_and_mentions():
    assert ev.words("Sunset!! #Beach @nat.geo, (wow) 🌅") == [
        "sunset",
        "#beach",
        "@nat.geo",
        "wow",
        "🌅",
    ]


def test_distinct_2():
    assert ev.distinct_2(["a b c", "a b d"]) == pytest.approx(3 / 4)  # a-b twice
    assert ev.distinct_2(["x x x x x"]) == pytest.approx(1 / 4)
    assert ev.distinct_2(["one", ""]) == 0.0


def test_known_words_and_copies():
    train = ["Golden sunset at the beach", "Coffee first."]
    vocab = ev.vocabulary_of(train)
    assert ev.known_word_share(["sunset coffee zzz", "beach!"], vocab) == pytest.approx(3 / 4)
    copies = {c.strip() for c in train}
    assert ev.copy_share(["Coffee first. ", "Coffee second."], copies) == 0.5


@pytest.mark.parametrize(
    ("text", "ended", "expected"),
    [
        ("nice " + "a" * 40, False, True),  # one character to the cap
        ("morning " + "#love " * 8, False, True),  # one word to the cap
        ("ha" * 20, False, True),
        ("a" * 40, True, False),  # stopped by EOS: a choice, not a loop
        ("a perfectly ordinary caption that got cut by the cap", False, False),
        ("aaaa", False, False),  # too short to call a loop
    ],
)
def test_degenerate(text, ended, expected):
    assert ev.is_degenerate(text, ended) is expected


def test_hashtag_mention_and_eos_shares():
    texts = ["#sun is up", "hi @nasa", "email me a@b.com", "plain", "#a @b"]
    assert ev.hashtag_share(texts) == pytest.approx(2 / 5)
    assert ev.mention_share(texts) == pytest.approx(2 / 5)  # an e-mail address is not a mention
    assert ev.ended_share([True, False, True, True]) == 0.75
    assert ev.degenerate_share(["b" * 30, "ok"], [False, True]) == 0.5


def test_scene_accuracy_on_hand_made_scenes():
    def scene_of(text):
        return "beach" if "#beach" in text else "forest" if "#forest" in text else None

    texts = ["waves #beach", "trees #forest", "nothing", "more #beach"]
    assert ev.scene_accuracy(texts, ["beach", "beach", "beach", None], scene_of) == pytest.approx(
        1 / 3
    )
    assert ev.scene_accuracy(texts, [None] * 4, scene_of) is None


# ----------------------------------------------------------------------------- a run measured end to end
# A hand-built model over the vocabulary {a, b}: with image weight w it predicts "a" when the photo's
# feature is positive and "b" when negative; w = 0 makes it a text-only model.

torch = pytest.importorskip("torch")

from types import SimpleNamespace  # noqa: E402

from instacap.config import EvalConfig  # noqa: E402
from instacap.tokenizer import BOS, EOS, Vocab  # noqa: E402

VOCAB = Vocab(tokens=("<pad>", "<bos>", "<eos>", "<unk>", "a", "b"))


class SignModel(torch.nn.Module):
    def __init__(self, weight: float) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(float(weight)))

    def forward(self, feats, inputs, targets=None):
        b, t = inputs.shape
        logits = torch.zeros(b, t, VOCAB.size)  # [B, T, V]
        logits[:, :, :4] = -1e4
        logits[:, :, EOS] = -2.0
        logits[:, :, 4] = self.w * feats[:, :1]  # [B, 1] broadcast over T
        logits[:, :, 5] = -self.w * feats[:, :1]
        return logits, None


def _pool(n: int = 40) -> ev.Pool:
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    captions = ["a" * (3 + i % 5) if s > 0 else "b" * (3 + i % 5) for i, s in enumerate(sign)]
    ids = np.zeros((n, 10), dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    for i, c in enumerate(captions):
        row = VOCAB.encode(c, 10)
        ids[i, : len(row)] = row
        lengths[i] = len(row)
    return ev.Pool(
        ids=ids,
        lengths=lengths,
        feats=(sign[:, None] * np.ones((n, 2))).astype(np.float32),
        captions=captions,
        scenes=[None] * n,
        shortcodes=[f"P{i}" for i in range(n)],
        accounts=["me"] * n,
        images=[f"/x/{i}.jpg" for i in range(n)],
    )


def _fake_generate(model, vocab, feats, config):
    # Writes the letter the model prefers for each photo.
    out = []
    for f in feats:
        w = float(model.w.detach())
        letter = "a" if w * f[0] > 0 else "ab" if w == 0 else "b"
        out.append([SimpleNamespace(text=letter * 3, ended=True) for _ in range(config.n)])
    return out


def _run(weight: float) -> SimpleNamespace:
    return SimpleNamespace(
        name="t", model=SignModel(weight), vocab=VOCAB, encoder="thumbnail", dataset="d", meta={}
    )


def test_caption_nats_sum_targets_after_bos_including_eos():
    pool = _pool(4)
    nats = ev.caption_nats(SignModel(0.0), pool.feats, pool.ids, pool.lengths)
    # Text-only: p(letter) = 1 / (2 + e^-2) for both letters; p(EOS) likewise with e^-2 on top.
    z = 2 + math.exp(-2)
    expect = [(ln - 2) * math.log(z) + (2 + math.log(z)) for ln in pool.lengths]
    assert nats == pytest.approx(expect)
    assert pool.ids[0, 0] == BOS


def test_measure_image_model_vs_text_only_model():
    config = EvalConfig(n=2, candidates=20, seed=1)
    seeing = ev.measure(
        _run(5.0), _pool(), ["aaa", "bbb"], config, samples=2, generate=_fake_generate
    )
    blind = ev.measure(_run(0.0), _pool(), ["aaa", "bbb"], config, generate=_fake_generate)
    assert blind.image_gain == pytest.approx(0.0, abs=1e-9)
    assert seeing.image_gain > 1.0
    # The image halves the rivals (the other letter); the text-only model picks by length alone.
    assert seeing.retrieval_at_1 > blind.retrieval_at_1
    assert seeing.retrieval_candidates == 20 and seeing.photos == 40
    assert (
        seeing.copied == 1.0 and blind.copied == 0.0
    )  # "aaa" is a training caption; "ababab" is not
    assert seeing.ended == 1.0 and seeing.degenerate == 0.0
    assert [s.shortcode for s in seeing.samples] == ["P0", "P1"]
    assert seeing.scene_accuracy is None


def test_measure_is_deterministic_for_a_seed():
    config = EvalConfig(n=2, candidates=20, seed=3)
    one = ev.measure(_run(1.0), _pool(), [], config, generate=_fake_generate).to_json()
    two = ev.measure(_run(1.0), _pool(), [], config, generate=_fake_generate).to_json()
    assert one == two


JSON_KEYS = {
    "schema", "run", "dataset", "encoder", "photos", "captions_per_photo", "seed", "bpc",
    "bpc_shuffled", "image_gain", "retrieval_at_1", "retrieval_photos", "retrieval_candidates",
    "retrieval_chance", "distinct_2", "distinct_2_data", "known_words", "copied", "degenerate",
    "hashtags", "hashtags_data", "mentions", "mentions_data", "ended", "scene_accuracy",
    "scene_accuracy_data", "scene_chance", "samples",
}  # fmt: skip


def test_report_json_schema_is_stable():
    report = ev.measure(
        _run(1.0), _pool(), [], EvalConfig(n=1, candidates=10), samples=1, generate=_fake_generate
    )
    data = report.to_json()
    assert set(data) == JSON_KEYS
    assert data["schema"] == 1
    assert set(data["samples"][0]) == {
        "shortcode",
        "account",
        "scene",
        "image",
        "original",
        "generated",
    }
    assert data["scene_accuracy"] is None and data["retrieval_chance"] == pytest.approx(0.1)
