"""The training loop: run files, best model, resume bit for bit, early stopping, bad data."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from instacap import runs, training
from instacap.config import ModelConfig, PrepConfig, TrainConfig
from instacap.dataload import Dataset, Split
from instacap.errors import InputError, NotReady
from instacap.tokenizer import BOS, EOS, build_vocab

pytest_plugins = ["tiny_data"]  # the `tiny` data set fixture

SMALL = ModelConfig(embed=16, hidden=32)
FAST = TrainConfig(epochs=3, batch_size=8, lr=5e-3, device="cpu")


class _StopAfter:
    """A Reporter that presses Ctrl-C after `n` training batches."""

    def __init__(self, n: int) -> None:
        self.left = n

    def start(self, task, total=None, **info):
        pass

    def advance(self, task, n=1, **info):
        if n:
            self.left -= n
            if self.left == 0:
                raise KeyboardInterrupt

    def note(self, text):
        pass


def test_fit_writes_a_complete_run(tiny):
    epochs = []
    result = training.fit(tiny, SMALL, FAST, name="r1", on_epoch=epochs.append)
    files = {p.name for p in result.path.iterdir()}
    assert {"model.pt", "last.pt", "meta.json", "metrics.jsonl"} <= files
    assert not [f for f in files if f.endswith(".part")]
    lines = [json.loads(x) for x in (result.path / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2, 3]
    assert [e.epoch for e in epochs] == [1, 2, 3] and epochs[0].sample is not None
    meta = json.loads((result.path / "meta.json").read_text())
    assert meta["encoder"] == "thumbnail" and meta["dataset"]["fingerprint"] == tiny.fingerprint
    # The features' identity as prep recorded it, so caption can check it opens the same encoder.
    assert meta["encoder_key"] == tiny.info["encoder_key"] == "thumbnail"
    assert meta["metrics"]["best_epoch"] == result.best_epoch
    best = min(lines, key=lambda x: x["val_loss"])
    assert result.best_epoch == best["epoch"]
    assert result.best_val_bpc == pytest.approx(best["val_loss"] / math.log(2), abs=1e-4)
    # model.pt is the best epoch, reproducing its validation loss.
    run = runs.load("r1", backend="torch")
    trainer = training._Trainer(tiny, run.model, None, FAST, torch.device("cpu"), None)
    assert trainer.validate() == pytest.approx(best["val_loss"], abs=1e-4)


def test_loss_starts_near_log_vocab_and_falls(tiny):
    result = training.fit(tiny, SMALL, dataclasses.replace(FAST, epochs=2, lr=1e-2), name="r2")
    first = result.history[0]
    assert first["train_loss"] < math.log(tiny.vocab.size) + 0.3
    assert result.history[-1]["val_loss"] < math.log(tiny.vocab.size) - 0.5


def test_interrupted_run_resumes_bit_for_bit(tiny):
    straight = training.fit(tiny, SMALL, FAST, name="straight")
    with pytest.raises(KeyboardInterrupt) as stop:
        training.fit(tiny, SMALL, FAST, name="cut", reporter=_StopAfter(5))  # inside epoch 2
    assert stop.value.name == "cut"
    resumed = training.fit(tiny, SMALL, FAST, name="cut", resume=True)
    a = torch.load(straight.path / "last.pt", weights_only=True)["model"]
    b = torch.load(resumed.path / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = [
        {k: v for k, v in h.items() if k not in ("captions_per_s", "seconds")}
        for h in straight.history
    ]
    again = [
        {k: v for k, v in h.items() if k not in ("captions_per_s", "seconds")}
        for h in resumed.history
    ]
    assert strip == again


def test_existing_run_needs_resume_or_another_name(tiny):
    training.fit(tiny, SMALL, dataclasses.replace(FAST, epochs=1), name="taken")
    with pytest.raises(InputError, match="already exists"):
        training.fit(tiny, SMALL, FAST, name="taken")


def test_patience_stops_early(tiny):
    config = dataclasses.replace(FAST, epochs=6, lr=0.5, patience=1)  # lr far too high: no progress
    result = training.fit(tiny, SMALL, config, name="impatient")
    assert result.stopped_early and len(result.history) < 6


def test_original_recipe_pads_to_the_cap_and_buckets_do_not():
    lengths = torch.randint(5, 60, (100,)).numpy()
    bucketed = training.epoch_batches(lengths, 10, True, seed=0, epoch=0)
    plain = training.epoch_batches(lengths, 10, False, seed=0, epoch=0)
    assert sorted(int(i) for b in bucketed for i in b) == list(range(100))
    spread = sum(int(lengths[b].max() - lengths[b].min()) for b in bucketed)
    assert spread < sum(int(lengths[b].max() - lengths[b].min()) for b in plain)


def _short_and_long(path) -> Dataset:
    """Text-only captions that all begin "ok": 80% end there, 20% go on for 60 characters."""
    captions = ["ok"] * 160 + ["ok, and then a caption that goes on for a while #longcaption"] * 40
    vocab = build_vocab(captions, min_count=1)
    ids = np.zeros((200, 80), np.int16)  # [200, 80]: BOS ... EOS, then PAD (0)
    for row, caption in zip(ids, captions, strict=True):
        encoded = vocab.encode(caption, 80)
        row[: len(encoded)] = encoded
    split = Split(ids, (ids != 0).sum(1), np.zeros(200, np.int64), np.zeros((1, 0), np.float16),
                  captions=captions)  # fmt: skip
    val = split.take(np.arange(50))
    return Dataset("lengths", path, vocab, "none", 0, 80, "", PrepConfig(), split, val)


@pytest.mark.parametrize("weigh", [True, False])
def test_captions_end_as_often_as_the_data_says(instacap_home, one_torch_thread, weigh):
    # Length buckets make batches of short captions; unless each batch counts by its tokens, the
    # network learns to end a caption far more often than the data does (here: after "ok").
    data = _short_and_long(instacap_home / "lengths")
    config = dataclasses.replace(FAST, epochs=12, batch_size=8, weigh_tokens=weigh)
    run = runs.load(training.fit(data, SMALL, config, name=f"w{weigh}").name, backend="torch")
    prefix = torch.tensor([[BOS, run.vocab.id("o"), run.vocab.id("k")]])
    with torch.no_grad():
        logits, _ = run.model(torch.zeros(1, 0), prefix)
    ends = float(torch.softmax(logits[0, -1], -1)[EOS])  # P(EOS | "ok"): 0.8 in the data
    assert (abs(ends - 0.8) < 0.1) if weigh else ends > 0.95


def test_empty_splits_are_one_sentence(tiny):
    empty_val = dataclasses.replace(tiny, val=tiny.val.take(np.arange(0)))
    with pytest.raises(NotReady, match="no validation captions"):
        training.fit(empty_val, SMALL, FAST, name="nope")
    empty_train = dataclasses.replace(tiny, train=empty_val.val)
    with pytest.raises(NotReady, match="no training captions"):
        training.fit(empty_train, SMALL, FAST, name="nope")
    assert not (runs.run_dir("nope")).exists()
