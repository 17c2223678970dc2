"""`instacap eval`: each metric on hand-made inputs with a known answer, then the whole command."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from instacap import evaluation as ev
from instacap import metrics

# ----------------------------------------------------------------------------- likelihood metrics


def test_bpc_of_certain_model_is_zero_and_uniform_is_log2_vocab():
    counts = np.array([5, 5, 5])
    assert metrics.bpc_from_totals(np.zeros(3), counts) == 0.0
    assert metrics.bpc_from_totals(counts * math.log(64), counts) == pytest.approx(6.0)


def test_bpc_from_totals_weights_by_tokens():
    # 10 tokens at 1 bit and 30 tokens at 3 bits -> 100 bits / 40 tokens.
    nats = np.array([10 * math.log(2), 30 * 3 * math.log(2)])
    assert metrics.bpc_from_totals(nats, np.array([10, 30])) == pytest.approx(2.5)


@pytest.mark.parametrize("n", [2, 3, 7, 100])
def test_derangement_moves_every_photo_and_is_seeded(n):
    perm = metrics.derangement(n, seed=3)
    assert sorted(perm.tolist()) == list(range(n))
    assert not np.any(perm == np.arange(n))
    assert np.array_equal(perm, metrics.derangement(n, seed=3))


def test_eval_bpc_agrees_with_the_validation_bpc_training_reports():
    # `instacap eval` scores captions one way (caption_nats), training validates another
    # (model.token_nll): on the same model and captions both must give the same bpc.
    import torch

    from instacap.config import ModelConfig
    from instacap.model import CaptionModel, token_nll

    torch.manual_seed(0)
    model = CaptionModel(ModelConfig(), vocab_size=30, feature_dim=6).eval()
    rng = np.random.default_rng(0)
    lengths = np.array([4, 9, 7, 12])
    ids = np.zeros((4, 12), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = [BOS, *rng.integers(4, 30, n - 2), EOS]
    feats = rng.standard_normal((4, 6)).astype(np.float32)

    bpc = metrics.bpc_from_totals(ev.caption_nats(model, feats, ids, lengths), lengths - 1)
    x = torch.from_numpy(ids)
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(feats), x[:, :-1])
        nll, count = token_nll(logits, x[:, 1:])
    assert count == int((lengths - 1).sum())
    assert bpc == pytest.approx(float(nll) / count / math.log(2), rel=1e-5)
    # And the photo matters to this scorer: another photo gives another number.
    assert metrics.bpc_from_totals(
        ev.caption_nats(model, feats[::-1].copy(), ids, lengths), lengths - 1
    ) != pytest.approx(bpc)


def _blocks(n=150, k=100):
    return metrics.retrieval_blocks(n, k, limit=0, seed=0)


CAPTIONS = [f"caption {i}" for i in range(150)]


def test_retrieval_blocks_cover_the_photos_in_near_equal_blocks():
    blocks = _blocks()
    assert [len(b) for b in blocks] == [75, 75]
    assert sorted(np.concatenate(blocks).tolist()) == list(range(150))
    assert all(np.array_equal(a, b) for a, b in zip(blocks, _blocks(), strict=True))
    assert [len(b) for b in metrics.retrieval_blocks(1000, 100, limit=200, seed=1)] == [100, 100]
    assert [len(b) for b in metrics.retrieval_blocks(40, 100, limit=200, seed=1)] == [40]


def test_perfect_scorer_retrieves_everything():
    acc, chance = metrics.retrieval_at_1(_blocks(), CAPTIONS, lambda p, c: (p == c).astype(float))
    assert acc == 1.0 and chance == pytest.approx(1 / 75)


def test_scorer_that_ignores_the_photo_lands_on_chance():
    # Some captions are likelier than others, whatever the photo: that alone must not win.
    acc, chance = metrics.retrieval_at_1(_blocks(), CAPTIONS, lambda p, c: np.sin(c.astype(float)))
    assert acc == pytest.approx(chance)
    acc, _ = metrics.retrieval_at_1(_blocks(), CAPTIONS, lambda p, c: np.zeros(len(c)))
    assert acc == pytest.approx(1 / 75)


def test_adversarial_scorer_never_retrieves():
    acc, _ = metrics.retrieval_at_1(_blocks(), CAPTIONS, lambda p, c: -(p == c).astype(float))
    assert acc == 0.0


def test_identical_captions_are_not_rivals():
    scores = np.eye(4)
    scores[0, 3] = 10.0  # photo 0 likes caption 3 best, but caption 3 has caption 0's text
    credit, size = metrics.retrieval_credit(scores, ["a", "b", "c", "a"])
    assert size.tolist() == [3, 4, 4, 3]
    assert credit[0] == 1.0 and credit[1] == 1.0 and credit[2] == 1.0


# ----------------------------------------------------------------------------- generated-text metrics


def test_words_trim_punctuation_but_keep_tags_and_mentions():
    assert metrics.words("Sunset!! #Beach @nat.geo, (wow) 🌅") == [
        "sunset",
        "#beach",
        "@nat.geo",
        "wow",
        "🌅",
    ]


def test_distinct_2():
    assert metrics.distinct_2(["a b c", "a b d"]) == pytest.approx(3 / 4)  # a-b twice
    assert metrics.distinct_2(["x x x x x"]) == pytest.approx(1 / 4)
    assert metrics.distinct_2(["one", ""]) == 0.0


def test_known_words_and_copies():
    train = ["Golden sunset at the beach", "Coffee first."]
    vocab = metrics.vocabulary_of(train)
    assert metrics.known_word_share(["sunset coffee zzz", "beach!"], vocab) == pytest.approx(3 / 4)
    copies = {c.strip() for c in train}
    assert metrics.copy_share(["Coffee first. ", "Coffee second."], copies) == 0.5


@pytest.mark.parametrize(
    ("text", "ended", "expected"),
    [
        ("nice " + "a" * 40, False, True),  # one character to the cap
        ("morning " + "#love " * 8, False, True),  # one word to the cap
        ("ha" * 20, False, True),
        ("The woods" + " in the woods with no signal" * 4, False, True),  # a phrase loop
        ("the the sunset over the lake, then pizza with friends", False, False),
        ("a" * 40, True, False),  # stopped by EOS: a choice, not a loop
        ("a perfectly ordinary caption that got cut by the cap", False, False),
        ("aaaa", False, False),  # too short to call a loop
    ],
)
def test_degenerate(text, ended, expected):
    assert metrics.is_degenerate(text, ended) is expected


def test_a_repeated_hashtag_counts_as_a_loop_even_when_the_caption_ended():
    assert metrics.repeats_hashtag("sunset #love #Love")  # Instagram ignores case
    assert not metrics.repeats_hashtag("sunset #love #lovely #loves")
    texts = ["sunset #love #love", "sunset #love #lovely", "ok"]
    assert metrics.degenerate_share(texts, [True, True, True]) == pytest.approx(1 / 3)


def test_hashtag_mention_and_eos_shares():
    texts = ["#sun is up", "hi @nasa", "email me a@b.com", "plain", "#a @b"]
    assert metrics.hashtag_share(texts) == pytest.approx(2 / 5)
    assert metrics.mention_share(texts) == pytest.approx(
        2 / 5
    )  # an e-mail address is not a mention
    assert metrics.ended_share([True, False, True, True]) == 0.75
    assert metrics.degenerate_share(["b" * 30, "ok"], [False, True]) == 0.5


def test_scene_accuracy_on_hand_made_scenes():
    def scene_of(text):
        return "beach" if "#beach" in text else "forest" if "#forest" in text else None

    texts = ["waves #beach", "trees #forest", "nothing", "more #beach"]
    assert metrics.scene_accuracy(
        texts, ["beach", "beach", "beach", None], scene_of
    ) == pytest.approx(1 / 3)
    assert metrics.scene_accuracy(texts, [None] * 4, scene_of) is None


# ----------------------------------------------------------------------------- a run measured end to end
# A hand-built model over the vocabulary {a, b}: with image weight w it predicts "a" when the photo's
# feature is positive and "b" when negative; w = 0 makes it a text-only model.

torch = pytest.importorskip("torch")

from types import SimpleNamespace  # noqa: E402

from instacap.config import EvalConfig, ModelConfig  # noqa: E402
from instacap.runs import DataSummary, Run, RunMeta  # noqa: E402
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
        feature_rows=np.arange(n),
        matrix=(sign[:, None] * np.ones((n, 2))).astype(np.float32),
        shortcodes=[f"P{i}" for i in range(n)],
        accounts=["me"] * n,
        captions=captions,
        images=[Path(f"/x/{i}.jpg") for i in range(n)],
        scenes=[None] * n,
    )


def _fake_generate(model, vocab, feats, config, reference=None):
    # Writes the letter the model prefers for each photo.
    out = []
    for f in feats:
        w = float(model.w.detach())
        letter = "a" if w * f[0] > 0 else "ab" if w == 0 else "b"
        text = letter * 3
        out.append([SimpleNamespace(text=text, tokens=tuple(text), ended=True)] * config.n)
    return out


def _run(weight: float) -> Run:
    meta = RunMeta(name="t", encoder="thumbnail", feature_dim=1, vocab=VOCAB,
                   model_config=ModelConfig(), dataset=DataSummary(name="d"))  # fmt: skip
    return Run("t", Path("t"), SignModel(weight), meta)


def test_caption_nats_sum_targets_after_bos_including_eos():
    pool = _pool(4)
    nats = ev.caption_nats(
        SignModel(0.0), pool.features(np.arange(len(pool))), pool.ids, pool.lengths
    )
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
    # Its own captions (one per letter) find their photo among half the block; the blind model
    # writes one caption for every photo: chance.
    assert blind.self_retrieval_sampled == pytest.approx(1 / 20)  # blocks of 20 photos
    assert seeing.self_retrieval_sampled == pytest.approx(2 * blind.self_retrieval_sampled)
    assert seeing.self_retrieval_reranked is None  # a run without reference photos
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
    "scene_accuracy_data", "scene_chance", "samples", "quiz", "self_retrieval_sampled",
    "self_retrieval_beam", "self_retrieval_reranked", "hashtag_precision_at_5",
    "hashtag_recall_at_5", "hashtag_precision_at_5_baseline", "hashtag_recall_at_5_baseline",
    "hashtag_posts", "style_gain", "account_accuracy", "account_accuracy_data",
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
    assert data["scene_accuracy"] is None and 0.1 <= data["retrieval_chance"] < 0.2


# ----------------------------------------------------------------------------- the command on a tiny real run


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory):
    """A demo store of 60 small photos, a thumbnail data set, a text-only one, and a 1-epoch run."""
    pytest.importorskip("instacap.training")
    from instacap import dataset, demo, training
    from instacap.config import ModelConfig, PrepConfig, TrainConfig
    from instacap.posts import PostStore

    home = tmp_path_factory.mktemp("eval-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSTACAP_HOME", str(home))
        with PostStore.open(demo=True) as store:
            demo.generate(store, n=60, size=48)
        prep = PrepConfig(encoder="thumbnail", min_count=1, val_share=0.3, workers=0)
        data = dataset.build(prep, demo=True)
        dataset.build(replace(prep, encoder="none"), name="blind", demo=True)
        dataset.build(replace(prep, seed=7), name="resplit", demo=True)  # same posts, other split
        training.fit(
            data,
            ModelConfig(embed=16, hidden=16),
            TrainConfig(epochs=1, batch_size=16, device="cpu"),
            name="tiny",
        )
    return home


@pytest.fixture
def cli(tiny_home, monkeypatch):
    from typer.testing import CliRunner

    from instacap.cli import app

    monkeypatch.setenv("INSTACAP_HOME", str(tiny_home))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["eval", *args])


def test_eval_json_through_the_cli(cli):
    result = cli("--json", "--n", "2", "--samples", "2")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == JSON_KEYS
    assert data["run"] == "tiny" and data["dataset"] == "demo" and data["encoder"] == "thumbnail"
    assert data["bpc"] > 0 and 0 <= data["retrieval_at_1"] <= 1
    assert data["scene_accuracy_data"] == 1.0  # every demo caption names its own scene
    assert 0 < data["scene_chance"] <= 0.5
    assert len(data["samples"]) == 2 and len(data["samples"][0]["generated"]) == 2
    again = json.loads(cli("--json", "--n", "2", "--samples", "2").stdout)
    assert again == data  # same seed, same numbers


def test_eval_table_and_samples(cli):
    result = cli("--n", "1", "--samples", "1", "--run", "tiny")
    assert result.exit_code == 0, result.output
    labels = ("bpc", "image gain", "retrieval@1", "self-retrieval@1", "scene accuracy", "loops")
    for label in labels:
        assert label in result.stdout
    assert "real caption" in result.stdout


def test_eval_on_another_data_set_leaves_training_posts_out(cli, tiny_home, monkeypatch):
    from instacap import dataset

    monkeypatch.setenv("INSTACAP_HOME", str(tiny_home))
    own = dataset.load("demo")
    result = cli("--data", "resplit", "--json", "--n", "1", "--samples", "100")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dataset"] == "resplit"
    # Every post of the other data set the run never trained on, i.e. exactly its own validation posts.
    assert {s["shortcode"] for s in data["samples"]} == set(own.val.shortcodes)


def test_eval_refuses_data_with_another_encoder(cli):
    result = cli("--data", "blind")
    assert result.exit_code == 1
    assert "'none' image features" in result.output and "--encoder thumbnail" in result.output


def test_eval_unknown_run_is_one_sentence(cli):
    result = cli("--run", "nope")
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_scene_check_on_demo_captions():
    from instacap import demo
    from instacap.posts import PostStore

    with PostStore.open(demo=True) as store:
        demo.generate(store, n=30, size=16)
        posts = list(store.posts())
    captions = [p.caption for p in posts]
    scenes = [p.scene for p in posts]
    assert (
        metrics.scene_accuracy(captions, scenes, demo.scene_of) == 1.0
    )  # each names its own scene
    # Captions paired with the wrong photos name the wrong scene.
    wrong = [captions[i] for i in metrics.derangement(len(posts), seed=0)]
    assert metrics.scene_accuracy(wrong, scenes, demo.scene_of) < 0.2


def test_evaluate_from_python_takes_setting_overrides(tiny_home, monkeypatch):
    from instacap.errors import InputError

    monkeypatch.setenv("INSTACAP_HOME", str(tiny_home))
    report = ev.evaluate("tiny", n=1, seed=2, samples=1)
    assert report.captions_per_photo == 1 and report.seed == 2
    assert len(report.samples) == 1 and len(report.samples[0].generated) == 1
    with pytest.raises(InputError, match="Unknown evaluation setting"):
        ev.evaluate("tiny", temperature=2.0)
