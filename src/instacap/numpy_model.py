"""The caption network's decoding step in NumPy, so `instacap caption` can run without torch.

Importing torch alone takes about 4 s on a small CPU, longer than writing five captions. A run's
`model.npz` holds the same weights as its `model.pt`; `NumpyModel` repeats `CaptionModel.step`
(model.py) with them, and the two give the same probabilities up to float rounding (a test checks
both, token for token). Training, evaluation and the CNN encoders still use torch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from instacap.config import ARCHS, ModelConfig

_LN_EPS = 1e-5  # nn.LayerNorm's default
_NORM_EPS = 1e-12  # F.normalize's default

# prefix [B, t] of token ids -> logits [B, V] of the next token; keeps its own recurrent state.
StepFn = Callable[[np.ndarray], np.ndarray]


def expected_shapes(
    config: ModelConfig, vocab: int, feature_dim: int
) -> dict[str, tuple[int, ...]]:
    """The state_dict of `CaptionModel(config, vocab, feature_dim)`: name -> shape."""
    E, H = config.embed, config.hidden
    has_image = feature_dim > 0
    inject = has_image and config.arch == "merge-inject"
    shapes: dict[str, tuple[int, ...]] = {"embed.weight": (vocab, E)}
    if has_image:
        shapes |= {"image.weight": (H, feature_dim), "image.bias": (H,)}
        if config.arch != "merge":
            shapes |= {"init.weight": (2 * H, H), "init.bias": (2 * H,)}
    shapes |= {
        "lstm.weight_ih_l0": (4 * H, E + (H if inject else 0)),
        "lstm.weight_hh_l0": (4 * H, H),
        "lstm.bias_ih_l0": (4 * H,),
        "lstm.bias_hh_l0": (4 * H,),
    }
    if config.normalize:
        shapes |= {"text_norm.weight": (H,), "text_norm.bias": (H,)}
        if has_image:
            shapes |= {"image_norm.weight": (H,), "image_norm.bias": (H,)}
    return shapes | {
        "hidden.weight": (H, H),
        "hidden.bias": (H,),
        "out.weight": (vocab, H),
        "out.bias": (vocab,),
    }


class NumpyModel:
    """Inference-only twin of `model.CaptionModel` (arrays named as in its state_dict)."""

    def __init__(
        self, config: ModelConfig, vocab_size: int, feature_dim: int, weights: dict[str, np.ndarray]
    ) -> None:
        if config.arch not in ARCHS:
            raise ValueError(f"unknown architecture {config.arch!r}")
        want = expected_shapes(config, vocab_size, feature_dim)
        got = {k: tuple(v.shape) for k, v in weights.items()}
        if got != want:
            raise ValueError("weights do not match the model described in meta.json")
        self.config, self.vocab_size, self.feature_dim = config, vocab_size, feature_dim
        self.w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        E = config.embed
        w_ih = self.w["lstm.weight_ih_l0"]  # [4H, E (+H)]
        # The embedding's share of the gates, looked up per token instead of multiplied each step.
        self.token_gates = self.w["embed.weight"] @ w_ih[:, :E].T  # [V, 4H]
        self.image_gates = w_ih[:, E:].T  # [H, 4H] (empty unless merge-inject)
        self.bias = self.w["lstm.bias_ih_l0"] + self.w["lstm.bias_hh_l0"]  # [4H]

    def _image_branch(self, feats: np.ndarray) -> np.ndarray | None:
        """feats [B, D] -> [B, H] (None without image input)."""
        if self.feature_dim == 0:
            return None
        x = feats.astype(np.float32)
        if self.config.normalize:
            norm = np.linalg.norm(x, axis=-1, keepdims=True)
            x = x / np.maximum(norm, _NORM_EPS)
        img = x @ self.w["image.weight"].T + self.w["image.bias"]
        if self.config.normalize:
            return _layer_norm(img, self.w["image_norm.weight"], self.w["image_norm.bias"])
        return img * np.float32(self.config.image_weight)

    def start(self, feats: np.ndarray) -> StepFn:
        """A decoder for photos `feats` [B, D]: call it with the prefix, one token longer each time."""
        B, H = feats.shape[0], self.config.hidden
        img = self._image_branch(feats)  # [B, H] | None
        if img is not None and "init.weight" in self.w:
            init = img @ self.w["init.weight"].T + self.w["init.bias"]  # [B, 2H]
            h, c = np.tanh(init[:, :H]), init[:, H:].copy()
        else:
            h = c = np.zeros((B, H), np.float32)
        gates_const = self.bias + (
            img @ self.image_gates if self.image_gates.size else 0
        )  # [B, 4H]
        w_hh_t = self.w["lstm.weight_hh_l0"].T  # [H, 4H]
        state = [h, c]

        def step(prefix: np.ndarray) -> np.ndarray:
            h, c = state
            gates = self.token_gates[prefix[:, -1]] + gates_const + h @ w_hh_t  # [B, 4H]
            # PyTorch's gate order: input, forget, cell, output.
            i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            state[:] = [h, c]
            return self._head(h, img)

        return step

    def _head(self, h: np.ndarray, img: np.ndarray | None) -> np.ndarray:
        """h [B, H] (+ img [B, H]) -> logits [B, V]."""
        x = h
        if self.config.normalize:
            x = _layer_norm(x, self.w["text_norm.weight"], self.w["text_norm.bias"])
        if img is not None:
            x = x + img
        x = np.maximum(x @ self.w["hidden.weight"].T + self.w["hidden.bias"], 0)  # [B, H]
        return x @ self.w["out.weight"].T + self.w["out.bias"]  # [B, V]


def build(
    config: ModelConfig, vocab_size: int, feature_dim: int, weights: dict[str, np.ndarray]
) -> NumpyModel:
    """The NumPy twin of `model.build(config, ...)` with `weights`: the one place that picks the
    class for an arch. ValueError when the weights do not fit."""
    return NumpyModel(config, vocab_size, feature_dim, weights)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))  # never overflows, unlike 1 / (1 + exp(-x))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _LN_EPS) * weight + bias
