"""The caption networks' decoding step in NumPy, so `instacap caption` can run without torch.

Importing torch alone takes about 4 s on a small CPU, longer than writing five captions. A run's
`model.npz` holds the same weights as its `model.pt`; `build` makes the NumPy twin of the network
its config describes (`numpy_lstm.NumpyLSTM` or `numpy_transformer.NumpyTransformer`), and each
gives the same probabilities as the torch network's `step` up to float rounding (tests check
both, token for token). Training, evaluation and the CNN encoders still use torch.
"""

from __future__ import annotations

import numpy as np

from instacap import network
from instacap.config import ModelConfig
from instacap.numpy_lstm import NumpyLSTM
from instacap.numpy_parts import NumpyNetwork, StepFn
from instacap.numpy_transformer import NumpyTransformer

NumpyModel = NumpyNetwork  # what every NumPy twin is (sampling checks for it)

__all__ = ["NumpyLSTM", "NumpyModel", "NumpyTransformer", "StepFn", "build"]


def build(
    config: ModelConfig, vocab_size: int, feature_dim: int, weights: dict[str, np.ndarray]
) -> NumpyModel:
    """The NumPy twin of `model.build(config, ...)` with `weights`: the one place that picks the
    class for an arch. ValueError when the weights do not fit."""
    if network.is_transformer(config):
        return NumpyTransformer(config, vocab_size, feature_dim, weights)
    return NumpyLSTM(config, vocab_size, feature_dim, weights)
