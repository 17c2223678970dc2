"""Presets and train options resolved by the library, as `instacap train` uses them."""

from __future__ import annotations

import pytest

from instacap import presets
from instacap.config import ORIGINAL_MODEL, ModelConfig
from instacap.errors import InputError


def test_original_keeps_its_recipe_unless_an_option_says_otherwise():
    model, train = presets.train_settings("original", epochs=3)
    assert model == ORIGINAL_MODEL
    assert (train.batch_size, train.lr, train.epochs, train.bucket) == (10, 1e-3, 3, False)
    _, train = presets.train_settings("original", batch_size=32, lr=0.01)
    assert (train.batch_size, train.lr) == (32, 0.01)


def test_default_preset_is_the_default_configs():
    model, train = presets.train_settings(seed=7, device="cpu", threads=1)
    assert model == ModelConfig()
    assert (train.seed, train.device, train.threads, train.bucket) == (7, "cpu", 1, True)


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
