"""The LSTM caption networks: a character LSTM conditioned on an image feature vector.

`merge` is the original student network, kept exact for comparison (`--preset original`):

    chars ─ Embedding(V, E) ─ LSTM(H) ───────────────┐
                                                     + ─ Linear(H, H) ─ ReLU ─ Linear(H, V)
    image ─ Linear(D, H) × image_weight ─────────────┘

The default adds two things the original lacked (docs/model.md has the measurements):
- `normalize`: the image vector is L2-normalised and both branches pass through LayerNorm before
  they are added, so neither branch overpowers the other whatever the encoder's scale (the
  original fixed this by hand with `image_weight`);
- `merge-init`: the LSTM's initial state is computed from the image, so the text branch knows the
  photo from the first character;
- `merge-inject` (the default): merge-init, and the image branch is also appended to the LSTM's
  input at every step, so the words themselves keep being chosen knowing the photo. This is what
  lifts scene accuracy from ~67% (merge) to ~98% on the demo data (docs/quality.md).

Training on the CPU (`loss`), merge-init and merge-inject run the LSTM through `recurrence.py`:
the same weights and results as `nn.LSTM`, with the embedding's input projection looked up from a
table, the image's computed once per caption, and the head run on real positions only. The
original keeps `nn.LSTM` and its full padded head, so its cost is the original's too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from instacap import network
from instacap.config import ModelConfig
from instacap.recurrence import recurrence
from instacap.tokenizer import PAD
from instacap.torchnet import (
    check_shapes,
    embedding,
    linear,
    maybe_linear,
    maybe_norm,
    mean_loss,
    split_conditioning,
    with_account,
)

# Decoding state carried between `step` calls: (h [L, B, H], c [L, B, H], image branch [B, H] | None).
State = tuple[Tensor, Tensor, Tensor | None]


class CaptionModel(nn.Module):
    """The LSTM family (`merge`, `merge-init`, `merge-inject`), with `config.layers` layers."""

    def __init__(self, config: ModelConfig, vocab_size: int, feature_dim: int) -> None:
        super().__init__()
        shapes = network.parameters(config, vocab_size, feature_dim)  # every size comes from here
        self.config = config
        self.vocab_size = vocab_size
        self.feature_dim = feature_dim
        self.embed = embedding(shapes, "embed", padding_idx=PAD)
        self.image = maybe_linear(shapes, "image")
        self.account = maybe_linear(shapes, "account")  # [H, A]: a row per account slot
        self.inject = feature_dim > 0 and config.arch == "merge-inject"
        self.init = linear(shapes, "init") if "init.weight" in shapes else None
        self.lstm = nn.LSTM(
            shapes["lstm.weight_ih_l0"][1],
            shapes["lstm.weight_hh_l0"][1],
            num_layers=config.layers,
            batch_first=True,
        )
        # The original network runs as the student's did, nn.LSTM kernel and head over every
        # padded position, so `--preset original` keeps its cost as well as its function.
        self.stock = config.arch == "merge"
        self.text_norm = maybe_norm(shapes, "text_norm")
        self.image_norm = maybe_norm(shapes, "image_norm")
        self.drop = nn.Dropout(config.dropout)
        self.image_drop = nn.Dropout(config.image_dropout)
        self.hidden = linear(shapes, "hidden")
        self.out = linear(shapes, "out")
        check_shapes(self, shapes)

    # -- pieces shared by forward and step ---------------------------------------------------
    def _image_branch(self, feats: Tensor) -> Tensor | None:
        """feats [B, D + A] -> [B, H]: the photo's branch plus the account's row (None when the
        model reads neither)."""
        photo, slots = split_conditioning(feats, self.config.accounts)  # [B, D], [B, A]
        img = None
        if self.image is not None:
            x = F.normalize(photo.float(), dim=-1) if self.config.normalize else photo
            img = self.image(x)  # [B, H]
            if self.image_norm is not None:
                img = self.image_drop(self.image_norm(img))
            else:
                img = self.image_drop(img * self.config.image_weight)
        return with_account(img, self.account, slots, self.image_drop)

    def _initial_state(self, img: Tensor | None, batch: int, device: torch.device) -> State:
        """(h0, c0) [L, B, H] each: from the image for init/inject, zeros otherwise."""
        H, L = self.config.hidden, self.config.layers
        if img is not None and self.init is not None:
            hc = self.init(img).view(batch, 2, L, H).transpose(0, 2)  # [L, 2, B, H]
            h0, c0 = torch.tanh(hc[:, 0]), hc[:, 1]
        else:
            h0 = c0 = torch.zeros(L, batch, H, device=device)
        return h0.contiguous(), c0.contiguous(), img

    def _lstm_input(self, tokens: Tensor, img: Tensor | None) -> Tensor:
        """tokens [B, T] -> [B, T, E], with the image branch appended at every step for inject."""
        x = self.embed(tokens)  # [B, T, E]
        if self.inject and img is not None:
            x = torch.cat([x, img.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)  # [B, T, E+H]
        return x

    def _head(self, text: Tensor, img: Tensor | None) -> Tensor:
        """text [..., H] (+ img broadcastable to it) -> logits [..., V]."""
        if self.text_norm is not None:
            text = self.text_norm(text)
        x = text if img is None else text + img  # [..., H]
        x = F.relu(self.hidden(self.drop(x)))  # [..., H]
        return self.out(self.drop(x))  # [..., V]

    def _text(self, inputs: Tensor, img: Tensor | None, h0: Tensor, c0: Tensor) -> Tensor:
        """The LSTM's outputs, time-major: inputs [B, T] -> [T, B, H]."""
        # On a GPU, cuDNN's fused LSTM beats a step-by-step loop; `recurrence` is for the CPU.
        if self.stock or inputs.device.type != "cpu":
            text, _ = self.lstm(self._lstm_input(inputs, img), (h0, c0))  # [B, T, H]
            return text.transpose(0, 1)
        # The input projection split in two: the embedding half becomes a lookup in a [V, 4H]
        # table, and the image half is computed once per caption instead of once per step.
        w_ih, w_hh, b_ih, b_hh = self.lstm.all_weights[0]
        E = self.config.embed
        table = F.linear(self.embed.weight, w_ih[:, :E], b_ih + b_hh)  # [V, 4H]
        gx = F.embedding(inputs.t(), table)  # [T, B, 4H]
        if self.inject and img is not None:
            gx = gx + F.linear(img, w_ih[:, E:])  # + [B, 4H], the same at every step
        text = recurrence(gx, h0[0], c0[0], w_hh)  # [T, B, H]
        for layer in range(1, self.config.layers):  # each reads the outputs of the one below
            w_ih, w_hh, b_ih, b_hh = self.lstm.all_weights[layer]
            text = recurrence(F.linear(text, w_ih, b_ih + b_hh), h0[layer], c0[layer], w_hh)
        return text

    # -- public -----------------------------------------------------------------------------
    def forward(
        self, feats: Tensor, inputs: Tensor, targets: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """feats [B, D]; inputs = ids[:, :-1] [B, T]; targets = ids[:, 1:] [B, T].

        Returns logits [B, T, V] and the mean cross-entropy over targets != PAD (None without
        targets). Positions after EOS are PAD in `targets`, so they never count.
        """
        B = inputs.shape[0]
        img = self._image_branch(feats)  # [B, H] | None
        h0, c0, _ = self._initial_state(img, B, inputs.device)
        text = self._text(inputs, img, h0, c0).transpose(0, 1)  # [B, T, H]
        logits = self._head(text, None if img is None else img.unsqueeze(1))  # [B, T, V]
        return logits, None if targets is None else mean_loss(logits, targets)

    def loss(self, feats: Tensor, inputs: Tensor, targets: Tensor) -> Tensor:
        """The training loss: `forward`'s cross-entropy, computed on real target positions only.

        Shorter captions in a batch leave PAD targets; their logits would only be thrown away.
        """
        if self.stock or inputs.device.type != "cpu":
            loss = self(feats, inputs, targets)[1]
            assert loss is not None
            return loss
        img = self._image_branch(feats)  # [B, H] | None
        h0, c0, _ = self._initial_state(img, inputs.shape[0], inputs.device)
        text = self._text(inputs, img, h0, c0)  # [T, B, H]
        real = targets.t() != PAD  # [T, B]
        cols = real.nonzero()[:, 1]  # [N]: each real position's caption
        logits = self._head(text[real], None if img is None else img[cols])  # [N, V]
        return F.cross_entropy(logits.float(), targets.t()[real])

    def step(self, feats: Tensor, tokens: Tensor, state: State | None) -> tuple[Tensor, State]:
        """One decoding step: feats [B, D], tokens [B] -> logits [B, V] and the new state.

        Pass `state=None` on the first step; the image branch is computed once and carried.
        """
        if state is None:
            img = self._image_branch(feats)
            h, c, img = self._initial_state(img, tokens.shape[0], tokens.device)
        else:
            h, c, img = state
        x = self._lstm_input(tokens.unsqueeze(1), img)[:, 0]  # [B, E(+H)]
        hs, cs = [], []
        for layer in range(self.config.layers):  # each layer's output is the next one's input
            x, c1 = _lstm_cell(self.lstm.all_weights[layer], x, h[layer], c[layer])  # [B, H]
            hs.append(x)
            cs.append(c1)
        logits = self._head(x, img)  # [B, V]
        return logits, (torch.stack(hs), torch.stack(cs), img)


def _lstm_cell(weights: Sequence[Tensor], x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """One time step of one layer of an `nn.LSTM`, with its weights: x [B, In], h, c [B, H].

    Written out because the fused kernel costs ~1 ms of setup per call on CPU, far more than
    the arithmetic of one step; this is 2 matrix products.
    """
    w_ih, w_hh, b_ih, b_hh = weights
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # [B, 4H]
    # PyTorch's gate order: input, forget, cell, output.
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c
