"""The LSTM family's decoding step in NumPy (`model.npz` of an LSTM run): `lstm.CaptionModel.step`
with the same weights, giving the same probabilities up to float rounding."""

from __future__ import annotations

import numpy as np

from instacap.config import ModelConfig
from instacap.numpy_parts import NumpyNetwork, StepFn, sigmoid


class NumpyLSTM(NumpyNetwork):
    def __init__(
        self, config: ModelConfig, vocab_size: int, feature_dim: int, weights: dict[str, np.ndarray]
    ) -> None:
        super().__init__(config, vocab_size, feature_dim, weights)
        E = config.embed
        w_ih = self.w["lstm.weight_ih_l0"]  # [4H, E (+H)]
        # The embedding's share of layer 0's gates, looked up per token instead of multiplied.
        self.token_gates = self.w["embed.weight"] @ w_ih[:, :E].T  # [V, 4H]
        self.image_gates = w_ih[:, E:].T  # [H, 4H] (empty unless merge-inject)

    def _image_branch(self, feats: np.ndarray) -> np.ndarray | None:
        """feats [B, D + A] -> [B, H] (None without image or account input)."""
        return self.branch(feats, self._photo)

    def _photo(self, photo: np.ndarray) -> np.ndarray:
        """The photo's features [B, D] -> [B, H]."""
        if not self.config.normalize:
            return self.linear(photo.astype(np.float32), "image") * np.float32(
                self.config.image_weight
            )
        return self.layer_norm(self.linear(self.unit_image(photo), "image"), "image_norm")

    def _initial_state(self, img: np.ndarray | None, B: int) -> tuple[np.ndarray, np.ndarray]:
        """(h, c) [L, B, H] each: from the image for init/inject, zeros otherwise."""
        H, L = self.config.hidden, self.config.layers
        if img is not None and "init.weight" in self.w:
            hc = self.linear(img, "init").reshape(B, 2, L, H).transpose(1, 2, 0, 3)  # [2, L, B, H]
            return np.tanh(hc[0]), hc[1].copy()
        return np.zeros((L, B, H), np.float32), np.zeros((L, B, H), np.float32)

    def start(self, feats: np.ndarray) -> StepFn:
        H, L = self.config.hidden, self.config.layers
        img = self._image_branch(feats)  # [B, H] | None
        h, c = self._initial_state(img, feats.shape[0])
        # Every layer's gates: input part (+ both biases) and the recurrent weights.
        bias = [self.w[f"lstm.bias_ih_l{k}"] + self.w[f"lstm.bias_hh_l{k}"] for k in range(L)]
        w_ih_t = [self.w[f"lstm.weight_ih_l{k}"].T for k in range(1, L)]  # [H, 4H] each
        w_hh_t = [self.w[f"lstm.weight_hh_l{k}"].T for k in range(L)]  # [H, 4H] each
        const0 = bias[0] + (img @ self.image_gates if self.image_gates.size else 0)  # [B, 4H]

        def step(prefix: np.ndarray) -> np.ndarray:
            x = self.token_gates[prefix[:, -1]] + const0  # layer 0's input gates [B, 4H]
            for k in range(L):
                if k:
                    x = h[k - 1] @ w_ih_t[k - 1] + bias[k]  # the layer below's new output
                gates = x + h[k] @ w_hh_t[k]  # [B, 4H]
                # PyTorch's gate order: input, forget, cell, output.
                i, f, g, o = (gates[:, j * H : (j + 1) * H] for j in range(4))
                c[k] = sigmoid(f) * c[k] + sigmoid(i) * np.tanh(g)
                h[k] = sigmoid(o) * np.tanh(c[k])
            return self._head(h[L - 1], img)

        return step

    def _head(self, h: np.ndarray, img: np.ndarray | None) -> np.ndarray:
        """h [B, H] (+ img [B, H]) -> logits [B, V]."""
        x = self.layer_norm(h, "text_norm") if self.config.normalize else h
        if img is not None:
            x = x + img
        return self.linear(np.maximum(self.linear(x, "hidden"), 0), "out")  # [B, V]
