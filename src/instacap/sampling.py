"""Writing captions: temperature / top-k / nucleus sampling that carries the LSTM state forward.

All the captions of all the photos asked for are decoded as one batch, one character per step,
each step feeding only the newest token (never re-running the network over the prefix). A seed
makes the output reproducible. Every caption keeps the probability the model gave each of its
characters (for shading) and its mean log-probability per token (for ranking and `--json`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from instacap.config import SampleConfig
from instacap.errors import InputError
from instacap.model import CaptionModel, State
from instacap.tokenizer import BOS, EOS, PAD, UNK, Vocab

# Tokens that are never written: padding, a second BOS, and UNK (it would print as U+FFFD).
_NEVER = (PAD, BOS, UNK)
# Rows decoded together at most (keeps memory flat for many photos x many captions).
_CHUNK = 512


@dataclass(frozen=True)
class Caption:
    text: str
    tokens: tuple[str, ...]  # one string per grapheme token (EOS not included)
    probs: tuple[float, ...]  # the model's probability of each token, at temperature 1
    mean_logprob: float  # mean natural-log probability per token, EOS included when it ended
    ended: bool  # stopped by EOS before the length cap

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "mean_logprob": round(self.mean_logprob, 4),
            "ended": self.ended,
        }


def check_config(config: SampleConfig) -> SampleConfig:
    """Raise InputError, in one sentence, for settings that cannot produce captions."""
    if config.n < 1:
        raise InputError(f"--n must be at least 1 (got {config.n}).")
    if not math.isfinite(config.temperature) or config.temperature < 0:
        raise InputError(
            f"--temperature must be 0 (always the likeliest character) or positive (got {config.temperature})."
        )
    if config.top_k < 0:
        raise InputError(f"--top-k must be 0 (off) or positive (got {config.top_k}).")
    if not (0 < config.top_p <= 1):
        raise InputError(f"--top-p must be in (0, 1], e.g. 0.9 (got {config.top_p}).")
    if not (2 <= config.max_len <= 1000):
        raise InputError(f"--max-len must be between 2 and 1000 tokens (got {config.max_len}).")
    if config.max_repeat < 0:
        raise InputError(f"max_repeat must be 0 (off) or positive (got {config.max_repeat}).")
    return config


def generate(
    model: CaptionModel, vocab: Vocab, feats: np.ndarray, config: SampleConfig
) -> list[list[Caption]]:
    """feats [P, D] -> P lists of `config.n` captions, decoded with the state carried forward."""
    return _generate(model, vocab, feats, config, _stateful_steps)


def generate_prefix(
    model: CaptionModel, vocab: Vocab, feats: np.ndarray, config: SampleConfig
) -> list[list[Caption]]:
    """The slow reference: re-run the whole prefix at every step. Same tokens for the same seed;
    kept for tests and `bench/caption.py`."""
    return _generate(model, vocab, feats, config, _prefix_steps)


# A step function: (feats [B, D], tokens so far [B, t]) -> logits [B, V] for the next token.
StepFn = Callable[[Tensor, Tensor], Tensor]


def _stateful_steps(model: CaptionModel) -> StepFn:
    state: list[State | None] = [None]

    def next_logits(feats: Tensor, prefix: Tensor) -> Tensor:
        logits, state[0] = model.step(feats, prefix[:, -1], state[0])  # [B, V]
        return logits

    return next_logits


def _prefix_steps(model: CaptionModel) -> StepFn:
    def next_logits(feats: Tensor, prefix: Tensor) -> Tensor:
        logits, _ = model(feats, prefix)  # [B, t, V]
        return logits[:, -1]

    return next_logits


def _generate(
    model: CaptionModel,
    vocab: Vocab,
    feats: np.ndarray,
    config: SampleConfig,
    steps: Callable[[CaptionModel], StepFn],
) -> list[list[Caption]]:
    check_config(config)
    device = next(model.parameters()).device
    feats_t = torch.as_tensor(np.asarray(feats, dtype=np.float32), device=device)  # [P, D]
    if feats_t.ndim != 2:
        raise InputError(
            f"Image features must be a [photos, features] matrix, not shape {tuple(feats_t.shape)}; "
            "pass one row per photo."
        )
    rows = feats_t.repeat_interleave(config.n, dim=0)  # [P * n, D]: photo p's captions adjacent
    seed = config.seed if config.seed is not None else int(torch.seed() % 2**63)
    # One uniform draw per caption and step, from a stream of its own photo: photo p's captions
    # are the same whatever other photos are in the batch, and whichever way logits are computed.
    draws = torch.from_numpy(
        np.concatenate(
            [
                np.random.default_rng([seed, p]).random((config.n, config.max_len - 1))
                for p in range(feats_t.shape[0])
            ]
        )
        if feats_t.shape[0]
        else np.zeros((0, config.max_len - 1))
    ).float()  # [P * n, max_len - 1]
    was_training = model.training
    model.eval()
    captions: list[Caption] = []
    try:
        with torch.inference_mode():
            for start in range(0, rows.shape[0], _CHUNK):
                part = slice(start, start + _CHUNK)
                captions += _decode(model, vocab, rows[part], config, steps(model), draws[part])
    finally:
        model.train(was_training)
    return [captions[i : i + config.n] for i in range(0, len(captions), config.n)]


def _decode(
    model: CaptionModel,
    vocab: Vocab,
    feats: Tensor,
    config: SampleConfig,
    next_logits: StepFn,
    draws: Tensor,
) -> list[Caption]:
    B, device, L = feats.shape[0], feats.device, config.max_len
    ids = torch.full((B, L), PAD, dtype=torch.long, device=device)  # [B, L], filled step by step
    ids[:, 0] = BOS
    draws = draws.to(device)
    done = torch.zeros(B, dtype=torch.bool, device=device)  # [B]
    ended = torch.zeros(B, dtype=torch.bool, device=device)
    run = torch.zeros(B, dtype=torch.long, device=device)  # length of the current token run
    logps: list[Tensor] = []  # each [B]: log p of the chosen token at temperature 1
    for t in range(L - 1):  # BOS already uses one of max_len tokens
        logits = next_logits(feats, ids[:, : t + 1]).float()  # [B, V]
        choice = _sample(logits, ids[:, t], run, config, draws[:, t])  # [B]
        choice = choice.masked_fill(done, PAD)
        logps.append(torch.log_softmax(logits, -1).gather(1, choice[:, None])[:, 0])
        run = torch.where(choice == ids[:, t], run + 1, torch.ones_like(run))
        ids[:, t + 1] = choice
        ended |= (choice == EOS) & ~done
        done |= choice == EOS
        if t % 4 == 3 and bool(done.all()):  # checking costs a sync: every 4th step is enough
            break
    logp = torch.stack(logps, dim=1).cpu()  # [B, t]
    ids = ids[:, 1 : len(logps) + 1].cpu()  # [B, t]
    return [_caption(vocab, ids[b], logp[b], bool(ended[b])) for b in range(B)]


def _sample(logits: Tensor, last: Tensor, run: Tensor, config: SampleConfig, u: Tensor) -> Tensor:
    """logits [B, V] -> chosen ids [B], after the repetition guard, temperature, top-k, top-p."""
    logits = logits.clone()
    logits[:, list(_NEVER)] = -math.inf
    if config.max_repeat > 0:
        # A token that already ran max_repeat times in a row may not continue the run: no caption
        # collapses into one character repeated to the length cap.
        blocked = run >= config.max_repeat  # [B]
        logits.scatter_(
            1,
            last[:, None],
            torch.where(blocked[:, None], -math.inf, logits.gather(1, last[:, None])),
        )
    if config.temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / config.temperature, dim=-1)  # [B, V]
    if config.top_k > 0 and config.top_k < probs.shape[-1]:
        kth = probs.topk(config.top_k, dim=-1).values[:, -1:]  # [B, 1]
        probs = torch.where(probs < kth, torch.zeros_like(probs), probs)
    if config.top_p < 1:
        sorted_p, order = probs.sort(dim=-1, descending=True)  # [B, V]
        before = sorted_p.cumsum(-1) - sorted_p  # mass of the tokens ranked above each one
        sorted_p = torch.where(
            before >= config.top_p * sorted_p.sum(-1, keepdim=True), 0.0, sorted_p
        )
        probs = torch.zeros_like(probs).scatter(1, order, sorted_p)
    # Inverse-CDF sampling with the row's uniform draw u [B].
    cdf = probs.cumsum(-1)  # [B, V]
    choice = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True)[:, 0]
    return choice.clamp_(max=probs.shape[-1] - 1)


def _caption(vocab: Vocab, ids: Tensor, logp: Tensor, ended: bool) -> Caption:
    ids_l = ids.tolist()
    n = (
        ids_l.index(EOS)
        if ended
        else next((i for i, t in enumerate(ids_l) if t == PAD), len(ids_l))
    )
    tokens = tuple(vocab.tokens[i] for i in ids_l[:n])
    scored = logp[: n + 1] if ended else logp[:n]  # EOS counts in the score when it was written
    probs = tuple(float(p) for p in logp[:n].exp())
    mean = float(scored.mean()) if len(scored) else 0.0
    return Caption("".join(tokens), tokens, probs, mean, ended)


class Captioner:
    """Caption photos with a trained run: `Captioner.load().caption("photo.jpg", n=5)`.

    Never prints; photos that cannot be read raise `instacap.errors.BadImage`.
    """

    def __init__(self, run: Any, device: str = "cpu") -> None:
        self.run = run
        self.device = device
        self._encoder: Any = None

    @classmethod
    def load(cls, run: str | None = None, device: str = "cpu") -> Captioner:
        """The named run, or the newest one (`instacap train` makes them)."""
        from instacap import checkpoint

        return cls(checkpoint.load(run, device=device), device=device)

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from instacap import encoders

            weights = self.run.meta.get("encoder_weights")  # set when prep used --weights FILE
            self._encoder = encoders.get(
                self.run.encoder, weights=Path(weights) if weights else None, device=self.device
            )
        return self._encoder

    def features(self, photos: Sequence[str | Path]) -> np.ndarray:
        """[P, D] float32 image features of `photos`, with the encoder the run was trained on."""
        from instacap import encoders

        paths = [Path(p) for p in photos]
        if self.run.model.feature_dim == 0:
            return np.zeros((len(paths), 0), dtype=np.float32)
        feats = encoders.encode_files(self.encoder, paths)
        if feats.shape[1] != self.run.model.feature_dim:
            raise InputError(
                f"Encoder {self.run.encoder!r} gives {feats.shape[1]} features but run "
                f"{self.run.name!r} expects {self.run.model.feature_dim}; retrain the run."
            )
        return feats

    def caption_many(
        self, photos: Sequence[str | Path], n: int = 5, **overrides: Any
    ) -> list[list[Caption]]:
        """`n` captions for each photo, best (highest mean log-probability) first."""
        config = sample_config(n=n, **overrides)
        feats = self.features(photos)
        out = generate(self.run.model, self.run.vocab, feats, config)
        return [sorted(caps, key=lambda c: -c.mean_logprob) for caps in out]

    def caption(self, photo: str | Path, n: int = 5, **overrides: Any) -> list[Caption]:
        """`n` captions for one photo, best first. `overrides` are SampleConfig fields
        (temperature, top_k, top_p, max_len, max_repeat, seed)."""
        return self.caption_many([photo], n=n, **overrides)[0]


def sample_config(**overrides: Any) -> SampleConfig:
    """SampleConfig defaults with `overrides` (None values ignored), checked."""
    fields = {f.name for f in dataclasses.fields(SampleConfig)}
    unknown = set(overrides) - fields
    if unknown:
        raise InputError(
            f"Unknown caption setting(s) {', '.join(sorted(unknown))}; "
            f"use {', '.join(sorted(fields))}."
        )
    given = {k: v for k, v in overrides.items() if v is not None or k == "seed"}
    return check_config(dataclasses.replace(SampleConfig(), **given))
