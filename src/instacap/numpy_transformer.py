"""The transformer's decoding step in NumPy (`model.npz` of a `--arch transformer` run), with a
key/value cache: `transformer.TransformerModel.step` with the same weights, giving the same
probabilities up to float rounding."""

from __future__ import annotations

import numpy as np

from instacap.numpy_parts import NumpyNetwork, StepFn

_GELU_C = np.float32(np.sqrt(2 / np.pi))


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form (what the torch network uses)."""
    return 0.5 * x * (1 + np.tanh(_GELU_C * (x + 0.044715 * x**3)))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class NumpyTransformer(NumpyNetwork):
    @property
    def max_tokens(self) -> int:
        """The longest caption it can write, BOS included."""
        return self.config.context + 1

    def start(self, feats: np.ndarray) -> StepFn:
        cfg = self.config
        B, C, nh = feats.shape[0], cfg.hidden, cfg.heads
        prefix = int(self.feature_dim > 0 and cfg.image_input == "prefix")
        img = self.branch(  # [B, C] | None: the photo's branch plus the account's row
            feats, lambda photo: self.layer_norm(self.linear(self.unit_image(photo), "image"),
                                                 "image_norm"))  # fmt: skip
        # Keys and values of every block, filled one position per step: [L, B, heads, P, C/heads].
        shape = (cfg.layers, B, nh, cfg.context + prefix, C // nh)
        keys, values = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        pos = self.w["pos.weight"]
        filled = [0]  # positions cached so far

        def run(x: np.ndarray) -> np.ndarray:
            """x [B, C] at the next position -> the last block's output [B, C], caching it."""
            t = filled[0]
            for b in range(cfg.layers):
                p = f"blocks.{b}."
                q, k, v = np.split(self.linear(self.layer_norm(x, p + "ln1"), p + "qkv"), 3, -1)
                keys[b, :, :, t] = k.reshape(B, nh, -1)
                values[b, :, :, t] = v.reshape(B, nh, -1)
                q = q.reshape(B, nh, 1, -1)  # [B, h, 1, d]
                att = _softmax(
                    q
                    @ keys[b, :, :, : t + 1].transpose(0, 1, 3, 2)
                    * np.float32(1 / np.sqrt(C // nh))
                )
                a = (att @ values[b, :, :, : t + 1]).reshape(B, C)  # [B, C]
                x = x + self.linear(a, p + "proj")
                hidden = _gelu(self.linear(self.layer_norm(x, p + "ln2"), p + "fc"))
                x = x + self.linear(hidden, p + "fc_out")
            filled[0] = t + 1
            return x

        if prefix and img is not None:
            run(img + pos[0])

        def step(ids: np.ndarray) -> np.ndarray:
            t = filled[0] - prefix  # caption position of the newest token
            if t >= cfg.context:
                raise ValueError(f"this transformer writes at most {self.max_tokens} tokens")
            x = self.w["tok.weight"][ids[:, -1]] + pos[prefix + t]  # [B, C]
            if img is not None and not prefix:
                x = x + img
            h = self.layer_norm(run(x), "ln_f")
            return h @ self.w["tok.weight"].T + self.w["out.bias"]  # [B, V], the tied head

        return step
