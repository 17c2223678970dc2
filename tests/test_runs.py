"""The runs package: meta.json read and written as a typed description without changing its format,
and a trained run loaded with either network."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from instacap import runs, sizing, training
from instacap.config import ModelConfig, SampleConfig, TrainConfig
from instacap.errors import CheckpointError
from instacap.numpy_model import NumpyModel
from instacap.sampling import generate

pytest_plugins = ["tiny_data"]  # the `tiny` data set fixture
pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = ModelConfig(embed=16, hidden=32)


@pytest.fixture
def run(tiny):
    return training.fit(tiny, SMALL, TrainConfig(epochs=1, batch_size=8, device="cpu"), name="r")


def _raw(run) -> dict:
    return json.loads((run.path / runs.META_FILE).read_text(encoding="utf-8"))


def test_meta_json_reads_and_writes_back_byte_for_byte(run, tiny):
    before = (run.path / runs.META_FILE).read_bytes()
    meta = runs.read_meta(run.path)
    # The account slots come from the data set (two demo voices, "other" and "any").
    assert meta.model_config == dataclasses.replace(SMALL, accounts=sizing.account_slots(tiny))
    assert meta.model_config.accounts == 4 and meta.train_config.epochs == 1
    assert meta.vocab.tokens == tiny.vocab.tokens and meta.feature_dim == tiny.feature_dim
    assert meta.dataset.fingerprint == tiny.fingerprint and meta.metrics.epochs_done == 1
    runs.write_meta(run.path, meta)
    assert (run.path / runs.META_FILE).read_bytes() == before


def test_keys_this_version_does_not_know_are_kept(run):
    raw = _raw(run) | {"accounts": {"natgeo": 12}}
    (run.path / runs.META_FILE).write_text(json.dumps(raw))
    runs.write_meta(run.path, runs.read_meta(run.path))
    assert _raw(run)["accounts"] == {"natgeo": 12}


@pytest.mark.parametrize(
    ("key", "value"), [("feature_dim", "eight"), ("model_config", [16]), ("encoder", None)]
)
def test_a_damaged_field_is_one_sentence(run, key, value):
    (run.path / runs.META_FILE).write_text(json.dumps(_raw(run) | {key: value}))
    with pytest.raises(CheckpointError, match=r"meta\.json is damaged .*train the run again"):
        runs.load("r")


def test_both_networks_load_and_write_the_same_captions(run, tiny):
    light, full = runs.load("r"), runs.load("r", backend="torch")
    assert isinstance(light.model, NumpyModel) and not full.model.training
    assert light.meta == full.meta and light.dataset == "demo" and light.encoder == "thumbnail"
    feats = tiny.val.features(np.arange(2))
    config = SampleConfig(n=2, seed=3, max_len=30)
    texts = [[c.text for c in caps] for caps in generate(light.model, light.vocab, feats, config)]
    assert texts == [
        [c.text for c in caps] for caps in generate(full.model, full.vocab, feats, config)
    ]


def test_starting_a_run_over_drops_the_old_hashtag_head(tiny):
    """--overwrite clears every file of the old run, its hashtag head too: until the new run
    finishes, caption must not offer the old run's hashtags."""
    result = training.fit(
        tiny, None, TrainConfig(epochs=1, batch_size=8, device="cpu", threads=1), name="over"
    )
    assert (result.path / runs.HEADS_FILE).is_file() and (result.path / runs.HEADS_META).is_file()
    runs.clear(result.path)
    assert sorted(p.name for p in result.path.iterdir() if not p.name.startswith(".")) == []
