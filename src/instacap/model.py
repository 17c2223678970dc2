"""The caption networks: a character LSTM conditioned on an image feature vector.

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

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from instacap.config import ARCHS, ModelConfig
from instacap.errors import InputError
from instacap.recurrence import recurrence

PAD = 0  # tokenizer.PAD; padding never counts in the loss

# Decoding state carried between `step` calls: (h [1, B, H], c [1, B, H], image branch [B, H] | None).
State = tuple[Tensor, Tensor, Tensor | None]


class CaptionModel(nn.Module):
    def __init__(self, config: ModelConfig, vocab_size: int, feature_dim: int) -> None:
        super().__init__()
        if config.arch not in ARCHS:
            raise InputError(
                f"Unknown architecture {config.arch!r}; use one of {', '.join(ARCHS)}."
            )
        self.config = config
        self.vocab_size = vocab_size
        self.feature_dim = feature_dim
        E, H = config.embed, config.hidden
        self.embed = nn.Embedding(vocab_size, E, padding_idx=PAD)
        self.image = nn.Linear(feature_dim, H) if feature_dim > 0 else None
        has_image = feature_dim > 0
        self.inject = has_image and config.arch == "merge-inject"
        self.init = nn.Linear(H, 2 * H) if has_image and config.arch != "merge" else None
        self.lstm = nn.LSTM(E + (H if self.inject else 0), H, batch_first=True)
        # The original network runs as the student's did, nn.LSTM kernel and head over every
        # padded position, so `--preset original` keeps its cost as well as its function.
        self.stock = config.arch == "merge"
        self.text_norm = nn.LayerNorm(H) if config.normalize else None
        self.image_norm = nn.LayerNorm(H) if config.normalize and feature_dim > 0 else None
        self.drop = nn.Dropout(config.dropout)
        self.image_drop = nn.Dropout(config.image_dropout)
        self.hidden = nn.Linear(H, H)
        self.out = nn.Linear(H, vocab_size)

    # -- pieces shared by forward and step ---------------------------------------------------
    def _image_branch(self, feats: Tensor) -> Tensor | None:
        """feats [B, D] -> [B, H] (None when the model has no image input)."""
        if self.image is None:
            return None
        x = F.normalize(feats.float(), dim=-1) if self.config.normalize else feats  # [B, D]
        img = self.image(x)  # [B, H]
        if self.image_norm is not None:
            return self.image_drop(self.image_norm(img))
        return self.image_drop(img * self.config.image_weight)

    def _initial_state(self, img: Tensor | None, batch: int, device: torch.device) -> State:
        H = self.config.hidden
        if img is not None and self.init is not None:
            h0, c0 = self.init(img).chunk(2, dim=-1)  # [B, H] each
            h0 = torch.tanh(h0)
        else:
            h0 = c0 = torch.zeros(batch, H, device=device)
        return h0.unsqueeze(0).contiguous(), c0.unsqueeze(0).contiguous(), img  # [1, B, H]

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
        return recurrence(gx, h0[0], c0[0], w_hh)  # [T, B, H]

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
        if targets is None:
            return logits, None
        loss = F.cross_entropy(
            logits.reshape(-1, self.vocab_size).float(), targets.reshape(-1), ignore_index=PAD
        )
        return logits, loss

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
        h1, c1 = _lstm_cell(self.lstm, x, h[0], c[0])  # [B, H] each
        logits = self._head(h1, img)  # [B, V]
        return logits, (h1.unsqueeze(0), c1.unsqueeze(0), img)


def build(config: ModelConfig, vocab_size: int, feature_dim: int) -> CaptionModel:
    """The torch network `config` describes: the one place that picks the class for an arch."""
    return CaptionModel(config, vocab_size, feature_dim)


def _lstm_cell(lstm: nn.LSTM, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """One time step of a one-layer `nn.LSTM`, with its own weights: x [B, In], h, c [B, H].

    Written out because the fused kernel costs ~1 ms of setup per call on CPU, far more than
    the arithmetic of one step; this is 2 matrix products.
    """
    w_ih, w_hh, b_ih, b_hh = lstm.all_weights[0]  # layer 0
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # [B, 4H]
    # PyTorch's gate order: input, forget, cell, output.
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def token_nll(logits: Tensor, targets: Tensor) -> tuple[Tensor, int]:
    """Summed negative log-likelihood (nats) over real target tokens, and how many there were.

    logits [B, T, V], targets [B, T]. BOS is never a target; EOS is, so it counts.
    """
    mask = targets != PAD
    nll = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none"
    )
    return (nll * mask.reshape(-1)).sum(), int(mask.sum())
