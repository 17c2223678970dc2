"""Account style: the slots a run conditions on, `caption --as`, and eval's style gain."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from instacap import accounts, paths
from instacap import evaluation as ev
from instacap.cli import app
from instacap.config import EvalConfig, ModelConfig
from instacap.errors import InputError
from instacap.runs import DataSummary, Run, RunMeta
from instacap.tokenizer import EOS, Vocab

pytest_plugins = ["tiny_data"]

runner = CliRunner()


def test_slots_keep_accounts_with_enough_posts_and_share_the_rest():
    posts = ["big"] * 9 + ["mid"] * accounts.MIN_POSTS + ["tiny"] * 2
    slots = accounts.Slots.from_accounts(posts)
    assert slots.names == ("big", "mid", "other", "any")
    assert slots.index(["mid", "tiny", "never"]).tolist() == [1, 2, 2]
    assert slots.asked(None, "r") == slots.asked("any", "r") == 3
    assert slots.asked("@big", "r") == 0
    with pytest.raises(
        InputError, match=r"does not know the account 'nope'; use --as with one of: big, mid"
    ):
        slots.asked("nope", "r")
    many = ["a"] * 2000 + ["b"] * 2000
    table = accounts.Slots.from_accounts(many)
    first = table.training_slots(many, seed=0)
    assert np.array_equal(first, table.training_slots(many, seed=0))  # resuming sees the same
    assert np.mean(first == table.size - 1) == pytest.approx(accounts.ANY_SHARE, abs=0.02)
    assert accounts.for_training(["solo"] * 50) is None  # one voice: nothing to condition on


VOCAB = Vocab(tokens=("<pad>", "<bos>", "<eos>", "<unk>", "a", "b"))


class AccountModel(torch.nn.Module):
    """Writes "a" for account A and "b" for account B (features: [photo, A, B, other, any]);
    ignores the photo."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(4.0))

    def forward(self, feats, inputs, targets=None):
        b, t = inputs.shape
        logits = torch.zeros(b, t, VOCAB.size)
        logits[:, :, :4] = -1e4
        logits[:, :, EOS] = -2.0
        lean = (feats[:, 1:2] - feats[:, 2:3]) * self.w  # [B, 1]
        logits[:, :, 4], logits[:, :, 5] = lean, -lean
        return logits, None


def test_style_gain_is_what_the_account_saves_and_image_gain_leaves_the_account_alone():
    n = 40
    is_a = np.arange(n) % 2 == 0
    captions = ["aaa" if a else "bbb" for a in is_a]
    ids = np.zeros((n, 6), np.int64)
    for i, c in enumerate(captions):
        ids[i, :5] = VOCAB.encode(c, 6)
    table = accounts.Slots(("A", "B", "other", "any"))
    photo = np.random.default_rng(0).normal(size=(n, 1)).astype(np.float32)
    matrix = accounts.condition(photo, table, np.where(is_a, 0, 1))
    pool = ev.Pool(ids, (ids != 0).sum(1), np.arange(n), matrix, captions=captions,
                   accounts=["A" if a else "B" for a in is_a], shortcodes=[f"P{i}" for i in range(n)])  # fmt: skip
    meta = RunMeta(name="t", encoder="thumbnail", feature_dim=1, vocab=VOCAB,
                   model_config=ModelConfig(), dataset=DataSummary(name="d"),
                   extra={"accounts": list(table.names)})  # fmt: skip
    report = ev.measure(Run("t", Path("t"), AccountModel(), meta), pool, [], EvalConfig(n=1),
                        generate=lambda *a, **k: [[_Cap("ab")] for _ in a[2]])  # fmt: skip
    assert report.image_gain == pytest.approx(0.0, abs=1e-9)  # the photo is ignored
    assert report.style_gain > 1.0  # the wrong account costs more than a bit per character


class _Cap:
    def __init__(self, text: str) -> None:
        self.text, self.tokens, self.ended = text, tuple(text), True


def test_caption_as_an_account_from_the_command_line(tiny, monkeypatch):
    monkeypatch.setattr(accounts, "MIN_POSTS", 1)  # the tiny data set has a few posts per account
    train = ["train", "--data", "demo", "--epochs", "1", "--name", "voices", "--threads", "1"]
    assert runner.invoke(app, train).exit_code == 0
    meta = json.loads((paths.runs_dir() / "voices" / "meta.json").read_text())
    known = meta["accounts"][:-2]
    assert meta["accounts"][-2:] == ["other", "any"] and len(known) >= 2
    photo = str(tiny.val.images[0])
    out = runner.invoke(app, ["caption", photo, "--as", known[0], "--n", "2", "--seed", "0", "--json", "--hashtags", "2"])  # fmt: skip
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["account"] == known[0] and len(data["photos"][0]["captions"]) == 2
    # An unknown account is refused before any photo is read: here one that is not a photo.
    not_a_photo = paths.runs_dir() / "notes.jpg"
    not_a_photo.write_text("not a photo")
    bad = runner.invoke(app, ["caption", str(not_a_photo), "--as", "nobody"])
    said = " ".join(bad.output.split())
    assert bad.exit_code == 1 and "does not know the account 'nobody'" in said and known[0] in said
