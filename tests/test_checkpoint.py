"""Saved runs: loading never runs code, and damaged or foreign files get one clear sentence."""

from __future__ import annotations

import dataclasses
import io
import json
import pickle

import pytest
import torch

from instacap import runs, training
from instacap.config import ModelConfig, TrainConfig
from instacap.errors import CheckpointError, InputError, NotReady

pytest_plugins = ["tiny_data"]  # the `tiny` data set fixture

SMALL = ModelConfig(embed=16, hidden=32)
ONE = TrainConfig(epochs=1, batch_size=8, device="cpu")


@pytest.fixture
def run(tiny):
    return training.fit(tiny, SMALL, ONE, name="saved")


class Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_loads_the_run_and_the_newest_by_default(run):
    loaded = runs.load(backend="torch")
    assert loaded.name == "saved" and not loaded.model.training
    assert loaded.encoder == "thumbnail" and loaded.vocab.size == loaded.model.vocab_size


def test_pickled_object_in_model_pt_is_refused(run, capsys):
    buf = io.BytesIO()
    torch.save({"weights": Payload()}, buf)
    (run.path / "model.pt").write_bytes(buf.getvalue())
    meta = json.loads((run.path / "meta.json").read_text())
    meta.pop("model_sha256")  # even without the checksum, the unpickler refuses it
    (run.path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="refused without running it"):
        runs.load("saved", backend="torch")
    assert "pwned" not in capsys.readouterr().out


def test_raw_pickle_is_refused(run):
    (run.path / "model.pt").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError):
        runs.load("saved", backend="torch")


def test_truncated_model_pt(run):
    data = (run.path / "model.pt").read_bytes()
    (run.path / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"checksum|truncated"):
        runs.load("saved", backend="torch")
    meta = json.loads((run.path / "meta.json").read_text())
    meta.pop("model_sha256")
    (run.path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        runs.load("saved", backend="torch")


def test_weights_of_another_shape_are_refused(run):
    meta = json.loads((run.path / "meta.json").read_text())
    meta["model_config"]["hidden"] = 64
    (run.path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not fit"):
        runs.load("saved", backend="torch")


def test_meta_from_a_newer_instacap(run):
    meta = json.loads((run.path / "meta.json").read_text())
    meta["instacap_version"] = "99.0.0"
    (run.path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="newer than this instacap"):
        runs.load("saved", backend="torch")


def test_no_runs_and_unknown_run():
    with pytest.raises(NotReady, match="instacap train"):
        runs.load(backend="torch")
    with pytest.raises(NotReady, match="no run named"):
        runs.load("ghost", backend="torch")


def test_resume_on_other_data_is_refused(run, tiny):
    other_vocab = dataclasses.replace(tiny, vocab=type(tiny.vocab)((*tiny.vocab.tokens, "zz")))
    with pytest.raises(InputError, match="another vocabulary"):
        training.fit(other_vocab, SMALL, ONE, name="saved", resume=True)
    other_encoder = dataclasses.replace(tiny, encoder="vgg16", feature_dim=4096)
    with pytest.raises(InputError, match="features"):
        training.fit(other_encoder, SMALL, ONE, name="saved", resume=True)
