"""A character-level causal transformer caption network (`--arch transformer`), nanoGPT-style.

    chars ─ tok(V, C) + pos(P, C) [+ image] ─ L × Block ─ LayerNorm ─ tok(V, C)ᵀ + bias ─ logits
    Block: x + Attention(LayerNorm(x)), then x + MLP(LayerNorm(x)) (pre-norm, GELU, 4C wide)

The photo's feature vector is L2-normalised, projected to the width C and LayerNorm-ed, like the
LSTM's image branch; `ModelConfig.image_input` then either adds it to every position ("add", the
default: every character is written knowing the photo) or puts it in a position of its own
before the caption ("prefix": attention decides how much to read it). docs/model.md compares
the two. The output layer is the token embedding (weight tying): fewer parameters, and on small
data a better validation bpc.

Decoding (`step`) keeps each block's keys and values (the KV cache), so each new character costs
one position's work, the way the LSTM carries its state. `numpy_transformer.py` is the NumPy twin
that `instacap caption` runs.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from instacap import network
from instacap.config import ModelConfig
from instacap.tokenizer import PAD
from instacap.torchnet import (
    check_shapes,
    embedding,
    linear,
    maybe_linear,
    maybe_norm,
    mean_loss,
    norm,
    split_conditioning,
    with_account,
)

# Decoding state: (keys, values) of every block, each [B, heads, t, C / heads], the image branch
# [B, C] | None, and how many positions are cached.
State = tuple[list[Tensor], list[Tensor], Tensor | None, int]


class Block(nn.Module):
    def __init__(self, shapes: network.Shapes, prefix: str, config: ModelConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.ln1 = norm(shapes, prefix + "ln1")
        self.qkv = linear(shapes, prefix + "qkv")
        self.proj = linear(shapes, prefix + "proj")
        self.ln2 = norm(shapes, prefix + "ln2")
        self.fc = linear(shapes, prefix + "fc")
        self.fc_out = linear(shapes, prefix + "fc_out")
        self.dropout = config.dropout
        self.drop = nn.Dropout(config.dropout)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x [B, T, C] -> q, k, v [B, heads, T, C / heads]."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)
        shape = (B, T, self.heads, C // self.heads)
        return (
            q.view(shape).transpose(1, 2),
            k.view(shape).transpose(1, 2),
            v.view(shape).transpose(1, 2),
        )

    def _mlp(self, x: Tensor) -> Tensor:
        # The tanh form of GELU: the NumPy twin computes it exactly without an erf.
        return x + self.drop(self.fc_out(F.gelu(self.fc(self.ln2(x)), approximate="tanh")))

    def forward(self, x: Tensor) -> Tensor:
        """x [B, T, C] -> [B, T, C], each position attending to itself and those before it."""
        B, T, C = x.shape
        q, k, v = self._split(self.ln1(x))
        p = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)  # [B, h, T, d]
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, T, C)))
        return self._mlp(x)

    def step(
        self, x: Tensor, keys: Tensor | None, values: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x [B, 1, C] of the newest position, the cache before it -> (output, keys, values)."""
        B, _, C = x.shape
        q, k, v = self._split(self.ln1(x))
        keys = k if keys is None else torch.cat([keys, k], dim=2)  # [B, h, t + 1, d]
        values = v if values is None else torch.cat([values, v], dim=2)
        a = F.scaled_dot_product_attention(q, keys, values)  # the newest sees all: no mask
        x = x + self.proj(a.transpose(1, 2).reshape(B, 1, C))
        return self._mlp(x), keys, values


class _Bias(nn.Module):
    """The output layer's own bias (its weight is the token embedding)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(size))


class TransformerModel(nn.Module):
    def __init__(self, config: ModelConfig, vocab_size: int, feature_dim: int) -> None:
        super().__init__()
        shapes = network.parameters(config, vocab_size, feature_dim)  # every size comes from here
        self.config, self.vocab_size, self.feature_dim = config, vocab_size, feature_dim
        self.tok = embedding(shapes, "tok")
        self.pos = embedding(shapes, "pos")
        self.image = maybe_linear(shapes, "image")
        self.account = maybe_linear(shapes, "account")  # [C, A]: a row per account slot
        self.image_norm = maybe_norm(shapes, "image_norm")
        self.prefix = int(feature_dim > 0 and config.image_input == "prefix")  # positions before
        self.blocks = nn.ModuleList(
            Block(shapes, f"blocks.{b}.", config) for b in range(config.layers)
        )
        self.ln_f = norm(shapes, "ln_f")
        self.out = _Bias(vocab_size)
        self.drop = nn.Dropout(config.dropout)
        self.image_drop = nn.Dropout(config.image_dropout)
        self._init_weights()
        check_shapes(self, shapes)

    def _init_weights(self) -> None:
        """GPT-2's initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 layers).

        Added to every position ("add"), the image branch starts at the embeddings' scale too
        (its LayerNorm's gain 0.02, not 1): at unit scale it drowned the characters, and a
        small-data run learnt next to nothing (demo: validation bpc 4.75 against 3.10 after 30
        epochs). As a position of its own ("prefix") it keeps unit scale (2.77 against 2.89)."""
        for name, p in self.named_parameters():
            if name == "image_norm.weight" and not self.prefix:
                nn.init.constant_(p, 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                std = (
                    0.02 / math.sqrt(2 * self.config.layers)
                    if name.endswith(("proj.weight", "fc_out.weight"))
                    else 0.02
                )
                nn.init.normal_(p, std=std)

    def _blocks(self) -> list[Block]:
        return [cast(Block, block) for block in self.blocks]

    @property
    def max_tokens(self) -> int:
        """The longest caption it can write, BOS included: one per position it attends over."""
        return self.config.context + 1

    def _image_branch(self, feats: Tensor) -> Tensor | None:
        """feats [B, D + A] -> [B, C]: the photo's branch plus the account's row (None when the
        model reads neither)."""
        photo, slots = split_conditioning(feats, self.config.accounts)  # [B, D], [B, A]
        img = None
        if self.image is not None and self.image_norm is not None:
            img = self.image_norm(self.image(F.normalize(photo.float(), dim=-1)))
            img = self.image_drop(img)  # [B, C]
        return with_account(img, self.account, slots, self.image_drop)

    def _embed(self, img: Tensor | None, tokens: Tensor, start: int) -> Tensor:
        """tokens [B, T] at caption positions start.. -> [B, T, C] block input."""
        T = tokens.shape[1]
        x = self.tok(tokens) + self.pos.weight[self.prefix + start : self.prefix + start + T]
        if img is not None and not self.prefix:
            x = x + img.unsqueeze(1)
        return x

    def _hidden(self, feats: Tensor, inputs: Tensor) -> Tensor:
        """feats [B, D], inputs [B, T] -> the final block's output at each input, [B, T, C]."""
        T = inputs.shape[1]
        if self.config.context < T:
            raise ValueError(f"{T} positions; this transformer attends over {self.config.context}")
        img = self._image_branch(feats)
        x = self._embed(img, inputs, 0)  # [B, T, C]
        if self.prefix and img is not None:
            x = torch.cat([(img + self.pos.weight[0]).unsqueeze(1), x], dim=1)  # [B, 1 + T, C]
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x[:, self.prefix :])  # [B, T, C]

    def _head(self, x: Tensor) -> Tensor:
        """[..., C] -> logits [..., V] through the tied embedding."""
        return F.linear(x, self.tok.weight, self.out.bias)

    def forward(
        self, feats: Tensor, inputs: Tensor, targets: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """feats [B, D]; inputs = ids[:, :-1] [B, T]; targets = ids[:, 1:] [B, T] -> logits
        [B, T, V] and the mean cross-entropy over targets != PAD (None without targets)."""
        logits = self._head(self._hidden(feats, inputs))  # [B, T, V]
        return logits, None if targets is None else mean_loss(logits, targets)

    def loss(self, feats: Tensor, inputs: Tensor, targets: Tensor) -> Tensor:
        """The training loss, with the head run on real target positions only."""
        h = self._hidden(feats, inputs)  # [B, T, C]
        real = targets != PAD  # [B, T]
        return F.cross_entropy(self._head(h[real]).float(), targets[real])

    def step(self, feats: Tensor, tokens: Tensor, state: State | None) -> tuple[Tensor, State]:
        """One decoding step: feats [B, D], tokens [B] -> logits [B, V] and the new state."""
        L = len(self.blocks)
        if state is None:
            img = self._image_branch(feats)
            keys: list[Tensor | None] = [None] * L
            values: list[Tensor | None] = [None] * L
            if self.prefix and img is not None:  # the photo's position goes into the cache first
                x = (img + self.pos.weight[0]).unsqueeze(1)  # [B, 1, C]
                for b, block in enumerate(self._blocks()):
                    x, keys[b], values[b] = block.step(x, None, None)
            t = 0
        else:
            cached_k, cached_v, img, t = state
            keys, values = list(cached_k), list(cached_v)
        if t >= self.config.context:
            raise ValueError(f"this transformer writes at most {self.max_tokens} tokens")
        x = self._embed(img, tokens.unsqueeze(1), t)  # [B, 1, C]
        for b, block in enumerate(self._blocks()):
            x, keys[b], values[b] = block.step(x, keys[b], values[b])
        logits = self._head(self.ln_f(x[:, 0]))  # [B, V]
        return logits, (
            [k for k in keys if k is not None],
            [v for v in values if v is not None],
            img,
            t + 1,
        )
