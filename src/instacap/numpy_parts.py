"""What the NumPy decoders share: the base class that checks a run's weights against the network's
parameter table (network.py), and the few functions torch would otherwise provide."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from instacap import network
from instacap.config import ModelConfig

LN_EPS = 1e-5  # nn.LayerNorm's default
NORM_EPS = 1e-12  # F.normalize's default

# prefix [B, t] of token ids -> logits [B, V] of the next token; keeps its own decoding state.
StepFn = Callable[[np.ndarray], np.ndarray]


class NumpyNetwork:
    """Inference-only twin of a torch network (arrays named as in its state_dict)."""

    def __init__(
        self, config: ModelConfig, vocab_size: int, feature_dim: int, weights: dict[str, np.ndarray]
    ) -> None:
        want = network.parameters(config, vocab_size, feature_dim)
        got = {k: tuple(v.shape) for k, v in weights.items()}
        if got != want:
            raise ValueError("weights do not match the model described in meta.json")
        self.config, self.vocab_size, self.feature_dim = config, vocab_size, feature_dim
        self.w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}

    def start(self, feats: np.ndarray) -> StepFn:
        """A decoder for photos `feats` [B, D]: call it with the prefix, one token longer each time."""
        raise NotImplementedError

    def branch(self, feats: np.ndarray, photo_branch: Callable[[np.ndarray], np.ndarray]
               ) -> np.ndarray | None:  # fmt: skip
        """feats [B, D + A] -> [B, H]: `photo_branch` of the photo's features (when the network
        reads a photo) plus the account's row (when it reads account slots); None for neither.
        As the torch networks' `_image_branch`, without dropout."""
        cut = feats.shape[-1] - self.config.accounts
        out = photo_branch(feats[:, :cut]) if "image.weight" in self.w else None
        if self.config.accounts:
            account = feats[:, cut:].astype(np.float32) @ self.w["account.weight"].T  # [B, H]
            out = account if out is None else out + account
        return out

    def unit_image(self, feats: np.ndarray) -> np.ndarray:
        """feats [B, D] as float32, L2-normalised like F.normalize."""
        x = feats.astype(np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), NORM_EPS)

    def layer_norm(self, x: np.ndarray, name: str) -> np.ndarray:
        """nn.LayerNorm over the last axis with the weights stored under `name`."""
        mean = x.mean(-1, keepdims=True)
        var = x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + LN_EPS) * self.w[f"{name}.weight"] + self.w[
            f"{name}.bias"
        ]

    def linear(self, x: np.ndarray, name: str) -> np.ndarray:
        """nn.Linear with the weights stored under `name`: x [..., in] -> [..., out]."""
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))  # never overflows, unlike 1 / (1 + exp(-x))
