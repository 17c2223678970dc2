"""Presets and train options resolved by the library, as `instacap train` uses them."""

from __future__ import annotations

import pytest

from instacap import presets
from instacap.config import ORIGINAL_MODEL, ModelConfig, TrainConfig
from instacap.errors import InputError


def test_original_keeps_its_recipe_unless_an_option_says_otherwise():
    model, train = presets.train_settings("original", epochs=3)
    assert model == ORIGINAL_MODEL
    assert (train.batch_size, train.lr, train.epochs, train.bucket) == (10, 1e-3, 3, False)
    _, train = presets.train_settings("original", batch_size=32, lr=0.01)
    assert (train.batch_size, train.lr) == (32, 0.01)


def test_default_preset_leaves_the_network_to_the_data_and_the_lr_to_its_size():
    model, train = presets.train_settings(seed=7, device="cpu", threads=1)
    assert model is None  # training picks it from the data set (or a continued run's own)
    assert (train.seed, train.device, train.threads, train.bucket) == (7, "cpu", 1, True)
    assert train.lr is None and train.schedule is None


def test_auto_size_grows_with_the_training_set():
    sizes = [presets.model_config("auto", "lstm", n).size for n in (60_000, 1_000_000, 10**7)]
    assert sizes == ["small", "base", "large"]
    # The small LSTM is the original's width, so a small data set trains what it always did.
    small = presets.model_config("small", "lstm")
    assert (small.embed, small.hidden, small.layers, small.arch) == (128, 128, 1, "merge-inject")
    assert small == ModelConfig()


def test_each_rung_has_its_own_learning_rate_unless_one_is_given():
    base = presets.model_config("base", "transformer")
    assert base.arch == "transformer" and base.hidden % base.heads == 0
    resolved = presets.resolve(base, TrainConfig())
    assert (resolved.lr, resolved.schedule) == (
        presets.SIZES["transformer", "base"]["lr"],
        "cosine",
    )
    assert presets.resolve(base, TrainConfig(lr=0.01)).lr == 0.01
    # The small LSTM keeps the constant rate it was tuned with (a decay costs it on small data).
    assert presets.resolve(ModelConfig(), TrainConfig()).schedule == "constant"
    model, _ = presets.train_settings(arch="transformer")
    assert model is not None and model.size == "auto"  # decided once the data set is known


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"size": "huge"}, "auto or one of small, base, large"),
        ({"arch": "gru"}, "lstm, transformer"),
    ],
)
def test_an_unknown_size_or_arch_lists_the_choices(options, named):
    with pytest.raises(InputError, match=named):
        presets.train_settings(**options)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"preset": "fancy"}, "preset"),
        ({"epochs": 0}, "--epochs"),
        ({"batch_size": 0}, "--batch-size"),
        ({"lr": 0.0}, "--lr"),
        ({"patience": -1}, "--patience"),
    ],
)
def test_a_bad_option_is_one_sentence_naming_it(options, named):
    with pytest.raises(InputError, match=named):
        presets.train_settings(**options)


def test_shells_complete_the_choices_of_preset_device_and_encoder():
    import os
    import subprocess
    import sys

    from instacap import encoders

    def complete(words: str) -> list[str]:
        env = {
            **os.environ,
            "_INSTACAP_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
        code = "import sys; sys.argv = ['instacap']; from instacap.cli import main; main()"
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
        )
        return out.stdout.split()

    assert complete("instacap train --preset ") == ["default", "original"]
    assert complete("instacap eval --device ") == ["auto", "cpu", "cuda"]
    assert complete("instacap prep --encoder ") == encoders.names()
