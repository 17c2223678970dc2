"""The caption networks behind one door: `build(config, vocab, feature_dim)` makes the torch
network a `ModelConfig` describes, and `token_nll` scores its logits.

Two families, each declared once as a table of parameters in `network.py`:
- `lstm.py`: the character LSTM of the original (`merge`) and this project's default
  (`merge-inject`: the image starts the LSTM's state and is fed at every step);
- `transformer.py`: a character-level causal transformer (`--arch transformer`).

Both offer the same interface: `forward(feats, inputs, targets)` -> (logits, loss), `loss(...)`
for training (real positions only), and `step(feats, tokens, state)` for decoding one token at a
time with the state carried forward (the LSTM's (h, c), the transformer's key/value cache).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from instacap import network
from instacap.config import ModelConfig
from instacap.lstm import CaptionModel
from instacap.tokenizer import PAD
from instacap.transformer import TransformerModel

Network = CaptionModel | TransformerModel

__all__ = ["CaptionModel", "Network", "TransformerModel", "build", "token_nll"]


def build(config: ModelConfig, vocab_size: int, feature_dim: int) -> Network:
    """The torch network `config` describes: the one place that picks the class for an arch."""
    if network.is_transformer(config):
        return TransformerModel(config, vocab_size, feature_dim)
    return CaptionModel(config, vocab_size, feature_dim)


def token_nll(logits: Tensor, targets: Tensor) -> tuple[Tensor, int]:
    """Summed negative log-likelihood (nats) over real target tokens, and how many there were.

    logits [B, T, V], targets [B, T]. BOS is never a target; EOS is, so it counts.
    """
    mask = targets != PAD
    nll = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none"
    )
    return (nll * mask.reshape(-1)).sum(), int(mask.sum())
