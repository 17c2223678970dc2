"""The hashtag head and reference photos (heads.py), as `caption --hashtags` and eval use them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from instacap import heads, paths, photofit
from instacap.cli import app
from instacap.errors import CheckpointError

pytest_plugins = ["tiny_data"]

runner = CliRunner()


def _two_kinds(n: int = 60) -> tuple[np.ndarray, list[str]]:
    """Photos of two kinds (features far apart): kind 0 carries #sea, kind 1 #snow, all #photo;
    #once is on 2 posts only, too few to learn."""
    rng = np.random.default_rng(0)
    kind = np.arange(n) % 2
    feats = rng.normal(0, 0.3, (n, 8)).astype(np.float32)
    feats[:, 0] += np.where(kind == 0, 3.0, -3.0)
    captions = [("waves #Sea" if k == 0 else "cold #snow") + " #photo" for k in kind]
    captions[0] += " #once"
    captions[1] += " #once"
    return feats, captions


def test_the_head_suggests_the_tags_of_the_photo_and_knows_the_frequent_ones():
    feats, captions = _two_kinds()
    head = heads.fit(feats, captions, seed=0)
    assert set(head.tags) == {"#sea", "#snow", "#photo"}  # lower-cased; #once is too rare
    assert head.frequent(1) == ["#photo"]
    sea, snow = head.suggest(feats[:2], 2)
    assert {h.tag for h in sea} == {"#photo", "#sea"}
    assert "#snow" not in {h.tag for h in sea} and "#sea" not in {h.tag for h in snow}
    assert sea[0].score >= sea[1].score and 0 < sea[-1].score < 1
    assert len(head.reference) == heads.REFERENCE  # reference photos from the training posts


def test_heads_round_trip_and_a_changed_file_is_refused(tmp_path):
    feats, captions = _two_kinds()
    head = heads.fit(feats, captions, seed=0)
    assert heads.load(tmp_path) is None  # a run from before heads existed
    heads.save(tmp_path, head)
    back = heads.load(tmp_path)
    assert back is not None and back.tags == head.tags
    np.testing.assert_allclose(back.scores(feats), head.scores(feats))
    data = bytearray((tmp_path / heads.HEADS_FILE).read_bytes())
    data[-30] ^= 0xFF
    (tmp_path / heads.HEADS_FILE).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        heads.load(tmp_path)


def test_precision_and_recall_at_5_count_hits_per_post():
    suggested = [{"#a", "#b", "#c", "#d", "#e"}, {"#a", "#x", "#y", "#z", "#w"}]
    truth = [{"#a", "#b"}, {"#q", "#r", "#s", "#t"}]
    precision, recall = photofit._at_k(suggested, truth)
    assert precision == pytest.approx((2 / 5 + 0 / 5) / 2)
    assert recall == pytest.approx((2 / 2 + 0 / 4) / 2)


def test_a_large_training_split_fits_the_head_on_a_seeded_sample(tiny, tmp_path, monkeypatch):
    n = len(tiny.train)
    monkeypatch.setattr(heads, "FIT_POSTS", n // 2)
    monkeypatch.setattr(heads, "MIN_TAG_POSTS", 1)
    given: list[tuple[np.ndarray, list[str]]] = []
    real = heads.fit
    monkeypatch.setattr(
        heads,
        "fit",
        lambda f, c, seed, image_dim=None: given.append((f, c)) or real(f, c, seed, image_dim),
    )
    for _ in range(2):
        heads.build(tmp_path, tiny, seed=0)
    (feats, captions), (_, again) = given
    assert len(captions) == len(feats) == n // 2 and captions == again  # the same sample
    assert set(captions) <= set(tiny.train.captions)
    assert heads.load(tmp_path) is not None


def test_caption_suggests_hashtags_and_reranks_from_the_command_line(tiny, monkeypatch):
    monkeypatch.setattr(heads, "MIN_TAG_POSTS", 1)  # the tiny data set has few tags
    train = ["train", "--data", "demo", "--epochs", "1", "--name", "tags", "--threads", "1"]
    assert runner.invoke(app, train).exit_code == 0
    assert (paths.runs_dir() / "tags" / heads.HEADS_FILE).is_file()
    photo = str(tiny.val.images[0])
    args = ["caption", photo, "--n", "2", "--seed", "0", "--json", "--hashtags", "3"]
    out = runner.invoke(app, [*args, "--rerank", "on"])
    assert out.exit_code == 0, out.output
    (found,) = json.loads(out.stdout)["photos"]
    tags = found["hashtags"]
    assert len(tags) == 3 and all(t["tag"].startswith("#") for t in tags)
    assert [t["score"] for t in tags] == sorted((t["score"] for t in tags), reverse=True)
    pmi = [c["pmi"] for c in found["captions"]]
    assert pmi == sorted(pmi, reverse=True)
    beam = runner.invoke(app, [*args, "--beam", "3", "--rerank", "off"])
    assert beam.exit_code == 0, beam.output
    caps = json.loads(beam.stdout)["photos"][0]["captions"]
    assert len({c["text"] for c in caps}) == 2 and all("pmi" not in c for c in caps)
