"""The size ladder and the transformer through training and captioning: `--size auto` follows the
data, a transformer run trains, resumes and captions like an LSTM run (torch-free), a run keeps
its network, and a network too large for the memory left says what it needs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from instacap import paths, runs, runtime, sizing, training
from instacap.cli import app
from instacap.config import ModelConfig, SampleConfig, TrainConfig
from instacap.errors import InputError
from instacap.sampling import generate

pytest_plugins = ["tiny_data"]  # the `tiny` data set fixture
pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = TrainConfig(epochs=2, batch_size=8, device="cpu", threads=1)
TRANSFORMER = ModelConfig(size="small", arch="transformer", hidden=32, layers=2, heads=4)
runner = CliRunner()


def _said(result) -> str:
    return " ".join(result.output.split())


def test_auto_size_is_recorded_with_its_learning_rate(tiny):
    result = training.fit(tiny, None, FAST, name="auto")
    meta = json.loads((result.path / "meta.json").read_text())
    assert sizing.train_tokens(tiny) < 300_000  # the tiny demo set is far below the base rung
    assert meta["model_config"]["size"] == "small" and meta["model_config"]["hidden"] == 128
    assert meta["train_config"]["lr"] == 5e-3 and meta["train_config"]["schedule"] == "constant"


def test_a_transformer_run_trains_resumes_and_captions_alike_with_numpy_and_torch(tiny):
    first = training.fit(tiny, TRANSFORMER, FAST, name="tf")
    assert first.history[-1]["val_bpc"] < first.history[0]["val_bpc"] + 0.05
    more = training.fit(tiny, None, dataclasses.replace(FAST, epochs=3), name="tf", resume=True)
    assert [h["epoch"] for h in more.history] == [1, 2, 3]
    run = runs.load("tf")  # NumPy backend: model.npz
    torch_run = runs.load("tf", backend="torch")
    feats = tiny.val.features(np.arange(2))
    config = SampleConfig(n=2, seed=3, max_len=40)
    a, b = (
        generate(run.model, run.meta.vocab, feats, config),
        generate(torch_run.model, run.meta.vocab, feats, config),
    )
    assert [[c.text for c in caps] for caps in a] == [[c.text for c in caps] for caps in b]


def test_a_run_keeps_its_network(tiny):
    training.fit(tiny, None, FAST, name="keep")
    with pytest.raises(
        InputError, match=r"trained with the small LSTM .* not the small transformer"
    ):
        training.fit(tiny, TRANSFORMER, FAST, name="keep", resume=True)
    result = runner.invoke(app, ["train", "--data", "demo", "--name", "keep", "--resume",
                                 "--arch", "transformer", "--epochs", "3", "--threads", "1"])  # fmt: skip
    assert result.exit_code == 1 and "continue it without --arch/--size" in _said(result)
    assert "Traceback" not in result.output
    # --overwrite starts the run over, with the network asked for.
    training.fit(tiny, TRANSFORMER, FAST, name="keep", overwrite=True)
    meta = json.loads((paths.runs_dir() / "keep" / "meta.json").read_text())
    assert meta["model_config"]["arch"] == "transformer"


def test_a_network_too_large_for_the_memory_left_names_what_it_needs(tiny, monkeypatch):
    monkeypatch.setattr(runtime, "free_memory_bytes", lambda device=None: 50 << 20)
    large = ModelConfig(size="large", embed=256, hidden=512, layers=2)
    with pytest.raises(
        InputError,
        match=r"needs about \d+\.\d GB .* only 0\.0 GB are free; choose a smaller --size",
    ):
        training.fit(tiny, large, FAST, name="big")
    assert not (paths.runs_dir() / "big").exists()


def test_unknown_size_or_arch_is_a_usage_error_listing_the_choices(tiny):
    result = runner.invoke(app, ["train", "--data", "demo", "--size", "huge"])
    assert result.exit_code == 2 and "small" in result.output and "large" in result.output
    result = runner.invoke(app, ["train", "--data", "demo", "--arch", "gru"])
    assert result.exit_code == 2 and "transformer" in result.output


def test_train_help_teaches_the_sizes_with_their_parameter_counts():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    said = _said(result)
    assert result.exit_code == 0
    assert "[default: auto, picked from the training set's size" in said
    assert "LSTM small 0.17M" in said and "transformer small" in said
    assert "[default: 64; original: 10]" in said  # bracketed defaults are text, not markup


def test_a_transformer_caps_the_caption_length_at_its_positions():
    from instacap import numpy_model
    from instacap.model import build
    from instacap.tokenizer import build_vocab

    vocab = build_vocab(["ab " * 5], 1)
    config = dataclasses.replace(TRANSFORMER, context=12)
    model = build(config, vocab.size, 0).eval()
    twin = numpy_model.build(
        config, vocab.size, 0, {k: v.numpy() for k, v in model.state_dict().items()}
    )
    settings = SampleConfig(n=2, seed=0, max_len=400, temperature=1.0, top_p=1.0)
    for net in (model, twin):
        captions = generate(net, vocab, np.zeros((1, 0), np.float32), settings)[0]
        assert all(len(c.tokens) <= 12 for c in captions)


def test_beam_search_and_reranking_work_with_a_transformer():
    """The transformer's state (key/value caches and a length) goes through beam search's
    reordering like the LSTM's (h, c)."""
    from instacap import numpy_model
    from instacap.model import build
    from instacap.tokenizer import build_vocab

    vocab = build_vocab(["sunny beach day #beach", "night city lights", "snow peak #alps"], 1)
    model = build(TRANSFORMER, vocab.size, 4).eval()
    twin = numpy_model.build(
        TRANSFORMER, vocab.size, 4, {k: v.numpy() for k, v in model.state_dict().items()}
    )
    feats = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    settings = SampleConfig(n=2, seed=0, max_len=30, beam=3)
    a, b = generate(model, vocab, feats, settings), generate(twin, vocab, feats, settings)
    assert [[c.text for c in caps] for caps in a] == [[c.text for c in caps] for caps in b]
    assert all(len(caps) == 2 for caps in a)
