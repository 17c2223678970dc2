"""Writing captions: temperature / top-k / nucleus sampling that carries the LSTM state forward.

All the captions of all the photos asked for are decoded as one batch, one token per step, each
step feeding only the newest token (never re-running the network over the prefix). A seed makes
the output reproducible. Every caption keeps the probability the model gave each of its tokens
(for shading) and its mean log-probability per token (for ranking and `--json`).

The sampler itself is NumPy. The network behind it is either the torch `CaptionModel` (training,
evaluation, GPUs) or its NumPy twin (`numpy_model`, what `Captioner` uses on CPU): both give the
sampler logits, so the same seed gives the same captions with either.

Long because it holds both the sampler and `Captioner`, the entry point imported by this name.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from instacap import beam, rerank, torchstep
from instacap.accounts import condition, of_run
from instacap.config import SampleConfig
from instacap.errors import InputError
from instacap.heads import Hashtag, Heads
from instacap.heads import load as load_heads
from instacap.numpy_model import NumpyModel, StepFn
from instacap.tagguard import TagGuard, guarded
from instacap.tokenizer import BOS, EOS, PAD, Vocab

if TYPE_CHECKING:  # types only: the run captions come from
    from instacap.encoders import Encoder
    from instacap.runs import AnyRun

# Rows decoded together at most (keeps memory flat for many photos x many captions).
_CHUNK = 512

# feats [B, D] -> a step function for those photos (see numpy_model.StepFn).
Starter = Callable[[np.ndarray], StepFn]


@dataclass(frozen=True)
class Caption:
    text: str
    tokens: tuple[str, ...]  # one string per grapheme token (EOS not included)
    probs: tuple[float, ...]  # the model's probability of each token, at temperature 1
    mean_logprob: float  # mean natural-log probability per token, EOS included when it ended
    ended: bool  # stopped by EOS before the length cap
    # How much likelier this photo makes the caption than the run's reference photos (nats per
    # token, rerank.py); None unless the captions were re-ranked.
    pmi: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": self.text,
            "mean_logprob": round(self.mean_logprob, 4),
            "ended": self.ended,
        }
        return out if self.pmi is None else {**out, "pmi": round(self.pmi, 4)}


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
    if not (0 <= config.beam <= 64):
        raise InputError(f"--beam must be 0 (sample) or a width up to 64 (got {config.beam}).")
    return config


def generate(
    model: Any,
    vocab: Vocab,
    feats: np.ndarray,
    config: SampleConfig,
    reference: np.ndarray | None = None,
) -> list[list[Caption]]:
    """feats [P, D] -> P lists of `config.n` captions, decoded with the state carried forward:
    sampled, or the beam's best with `config.beam`. With `config.rerank` and reference photos
    [R, D] (the run's, `heads.Heads.reference`), 4 x n candidates are written and the n the
    photo explains best are kept, best first; otherwise the order is the decoding's.

    `model` is a `numpy_model.NumpyModel` or a torch `model.Network`. A transformer writes at
    most as many tokens as it has positions: `config.max_len` is capped there. Image features
    alone, for a run that also reads the account (accounts.py), are written as "any" account.
    """
    feats = _as_any_account(feats, model.feature_dim)
    limit = getattr(model, "max_tokens", None)
    if isinstance(limit, int) and config.max_len > limit:
        config = dataclasses.replace(config, max_len=limit)
    if isinstance(model, NumpyModel):
        return _generate(vocab, feats, config, model.start, reference)
    with torchstep.evaluating(model):
        start = torchstep.starter(model, whole_prefix=False)
        return _generate(vocab, feats, config, start, reference)


def generate_prefix(
    model: Any, vocab: Vocab, feats: np.ndarray, config: SampleConfig
) -> list[list[Caption]]:
    """The slow reference: re-run a torch `CaptionModel` over the whole prefix at every step.
    Same tokens for the same seed; kept for tests and `bench/caption.py`."""
    feats = _as_any_account(feats, model.feature_dim)
    with torchstep.evaluating(model):
        return _generate(vocab, feats, config, torchstep.starter(model, whole_prefix=True))


def _as_any_account(feats: np.ndarray, width: int) -> np.ndarray:
    """feats [P, D]; with fewer features than the network reads (D + account slots), the account
    slots appended with "any" (the last slot) set."""
    feats = np.asarray(feats, np.float32)
    if feats.ndim != 2 or feats.shape[1] >= width:
        return feats
    slots = np.zeros((len(feats), width - feats.shape[1]), np.float32)
    slots[:, -1] = 1.0
    return np.concatenate([feats, slots], axis=1)


def _generate(
    vocab: Vocab,
    feats: np.ndarray,
    config: SampleConfig,
    start: Starter,
    reference: np.ndarray | None = None,
) -> list[list[Caption]]:
    check_config(config)
    feats = np.asarray(feats, dtype=np.float32)
    if feats.ndim != 2:
        raise InputError(
            f"Image features must be a [photos, features] matrix, not shape {feats.shape}; "
            "pass one row per photo."
        )
    if config.rerank and reference is not None and len(reference):
        wide = dataclasses.replace(config, n=rerank.CANDIDATES * config.n, rerank=False)
        pool = _generate(vocab, feats, wide, start)
        ranked = rerank.order(start, vocab, feats, pool, reference, config.n)
        return [[dataclasses.replace(c, pmi=score) for c, score in caps] for caps in ranked]
    if config.beam:
        return _beam(vocab, feats, config, start)
    rows = np.repeat(feats, config.n, axis=0)  # [P * n, D]: photo p's captions adjacent
    seed = config.seed if config.seed is not None else secrets.randbits(63)
    # One uniform draw per caption and step, from a stream of its own photo: photo p's captions
    # are the same whatever other photos are in the batch, and whichever way logits are computed.
    draws = np.zeros((len(rows), config.max_len - 1), np.float32)  # [P * n, max_len - 1]
    for p in range(feats.shape[0]):
        draws[p * config.n : (p + 1) * config.n] = np.random.default_rng([seed, p]).random(
            (config.n, config.max_len - 1)
        )
    captions: list[Caption] = []
    for s in range(0, len(rows), _CHUNK):
        part = slice(s, s + _CHUNK)
        captions += _decode(vocab, start(rows[part]), config, draws[part])
    return [captions[i : i + config.n] for i in range(0, len(captions), config.n)]


def _beam(
    vocab: Vocab, feats: np.ndarray, config: SampleConfig, start: Starter
) -> list[list[Caption]]:
    """The n best of a beam of max(beam, n) per photo, photos batched `_CHUNK` rows at a time."""
    width = max(config.beam, config.n)

    def guard(logits: np.ndarray, last: np.ndarray, run: np.ndarray, tags: Any) -> np.ndarray:
        return guarded(logits, last, run, config.max_repeat, tags)

    out: list[list[Caption]] = []
    per = max(1, _CHUNK // width)
    for s in range(0, len(feats), per):
        found = beam.search(vocab, feats[s : s + per], start, width, config.max_len, guard,
                            config.max_repeat > 0, keep=config.n)  # fmt: skip
        for ids, logps, ended in zip(found.ids, found.logps, found.ended, strict=True):
            out.append([_caption(vocab, ids[k], logps[k], bool(ended[k])) for k in range(config.n)])
    return out


def _decode(vocab: Vocab, step: StepFn, config: SampleConfig, draws: np.ndarray) -> list[Caption]:
    B, L = draws.shape[0], config.max_len
    ids = np.full((B, L), PAD, dtype=np.int64)  # [B, L], filled step by step
    ids[:, 0] = BOS
    done = np.zeros(B, dtype=bool)  # [B]
    ended = np.zeros(B, dtype=bool)
    run = np.zeros(B, dtype=np.int64)  # length of the current token run
    tags = TagGuard(vocab, B) if config.max_repeat > 0 else None
    logps: list[np.ndarray] = []  # each [B]: log p of the chosen token at temperature 1
    for t in range(L - 1):  # BOS already uses one of max_len tokens
        logits = np.asarray(step(ids[:, : t + 1]), dtype=np.float32)  # [B, V], no copy
        choice = _sample(logits, ids[:, t], run, config, draws[:, t], tags)  # [B]
        choice[done] = PAD
        logps.append(_log_softmax_at(logits, choice))
        run = np.where(choice == ids[:, t], run + 1, 1)
        if tags is not None:
            tags.advance(choice)
        ids[:, t + 1] = choice
        ended |= (choice == EOS) & ~done
        done |= choice == EOS
        if done.all():
            break
    logp = np.stack(logps, axis=1)  # [B, t]
    ids = ids[:, 1 : len(logps) + 1]  # [B, t]
    return [_caption(vocab, ids[b], logp[b], bool(ended[b])) for b in range(B)]


def _sample(
    logits: np.ndarray,
    last: np.ndarray,
    run: np.ndarray,
    config: SampleConfig,
    u: np.ndarray,
    tags: TagGuard | None = None,
) -> np.ndarray:
    """logits [B, V] -> chosen ids [B], after the repetition guards, temperature, top-k, top-p."""
    logits = guarded(logits, last, run, config.max_repeat, tags)
    if config.temperature == 0:
        return logits.argmax(-1)
    probs = _softmax(logits / np.float32(config.temperature))  # [B, V]
    V = probs.shape[-1]
    if 0 < config.top_k < V:
        kth = np.partition(probs, V - config.top_k, axis=-1)[:, V - config.top_k, None]  # [B, 1]
        probs = np.where(probs < kth, np.float32(0), probs)
    if config.top_p < 1:
        order = np.argsort(-probs, axis=-1, kind="stable")  # [B, V], likeliest first
        sorted_p = np.take_along_axis(probs, order, -1)
        before = np.cumsum(sorted_p, -1) - sorted_p  # mass of the tokens ranked above each one
        cut = before >= config.top_p * sorted_p.sum(-1, keepdims=True)
        np.put_along_axis(probs, order, np.where(cut, np.float32(0), sorted_p), -1)
    # Inverse-CDF sampling with the row's uniform draw u [B]: the first token whose cumulative
    # probability passes u (what searchsorted(right=True) finds).
    cdf = np.cumsum(probs, -1)  # [B, V]
    choice = (cdf <= (u * cdf[:, -1])[:, None]).sum(-1)
    return np.minimum(choice, V - 1)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _log_softmax_at(logits: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """log softmax(logits [B, V]) at ids [B] -> [B]."""
    top = logits.max(-1)
    lse = top + np.log(np.exp(logits - top[:, None]).sum(-1))
    return logits[np.arange(len(ids)), ids] - lse


def _caption(vocab: Vocab, ids: np.ndarray, logp: np.ndarray, ended: bool) -> Caption:
    ids_l = ids.tolist()
    n = (
        ids_l.index(EOS)
        if ended
        else next((i for i, t in enumerate(ids_l) if t == PAD), len(ids_l))
    )
    tokens = tuple(vocab.tokens[i] for i in ids_l[:n])
    scored = logp[: n + 1] if ended else logp[:n]  # EOS counts in the score when it was written
    probs = tuple(float(p) for p in np.exp(logp[:n]))
    mean = float(scored.mean()) if len(scored) else 0.0
    return Caption("".join(tokens), tokens, probs, mean, ended)


class Captioner:
    """Caption photos with a trained run: `Captioner.load().caption("photo.jpg", n=5)`.

    Never prints; photos that cannot be read raise `instacap.errors.BadImage`.
    """

    def __init__(self, run: AnyRun, device: str = "cpu") -> None:
        self.run = run
        self.device = device
        self._encoder: Encoder | None = None
        self._heads: tuple[Heads | None] | None = None  # loaded on first use

    @classmethod
    def load(cls, run: str | None = None, device: str = "cpu") -> Captioner:
        """The named run, or the newest one (`instacap train` makes them).

        On CPU the run's NumPy weights are used, so captioning with the thumbnail encoder never
        imports torch (about 4 s); on a GPU, the torch model.
        """
        from instacap import runs

        backend: runs.Backend = "numpy" if device == "cpu" else "torch"
        return cls(runs.load(run, backend=backend, device=device), device=device)

    @property
    def backend(self) -> str:
        """ "numpy" or "torch": what computes the network's steps."""
        return "numpy" if isinstance(self.run.model, NumpyModel) else "torch"

    @property
    def encoder(self) -> Encoder:
        """The encoder the run was trained on, opened on first use."""
        if self._encoder is None:
            from instacap import runs

            self._encoder = runs.open_encoder(self.run.meta, device=self.device)
        return self._encoder

    def features(self, photos: Sequence[str | Path]) -> np.ndarray:
        """[P, D] float32 image features of `photos`, with the encoder the run was trained on."""
        from instacap import encoders

        paths = [Path(p) for p in photos]
        want = self.run.meta.feature_dim  # the photo's part of what the network reads
        if want == 0:
            return np.zeros((len(paths), 0), dtype=np.float32)
        feats = encoders.encode_files(self.encoder, paths)
        if feats.shape[1] != want:
            raise InputError(
                f"Encoder {self.run.encoder!r} gives {feats.shape[1]} features but run "
                f"{self.run.name!r} expects {want}; retrain the run."
            )
        return feats

    @property
    def accounts(self) -> tuple[str, ...]:
        """The accounts the run can write as (`account=`), most posts first; () without style."""
        slots = of_run(self.run.meta)
        return slots.accounts if slots else ()

    def conditioned(self, feats: np.ndarray, account: str | None = None) -> np.ndarray:
        """Image features [P, D] -> what the network reads: with the account's slot appended
        (None: "any") for a run trained with account style. InputError, one sentence, for an
        account the run does not know."""
        slots = of_run(self.run.meta)
        if slots is None:
            if account not in (None, "any"):
                raise InputError(
                    f"Run {self.run.name!r} has no account styles (it was trained on one "
                    "account's posts, or before they existed), so it cannot write as "
                    f"{account!r}; train it on several accounts for --as."
                )
            return np.asarray(feats, np.float32)
        return condition(feats, slots, slots.asked(account, self.run.name))

    def check_account(self, account: str | None) -> None:
        """InputError, in one sentence, for an account the run cannot write as: before any photo
        is encoded (a CNN encoder takes seconds to start)."""
        self.conditioned(np.zeros((0, self.run.meta.feature_dim), np.float32), account)

    @property
    def heads(self) -> Heads | None:
        """The run's hashtag head and reference photos (None: trained before they existed)."""
        if self._heads is None:
            self._heads = (load_heads(self.run.path),)
        return self._heads[0]

    def hashtags(
        self, feats: np.ndarray, k: int = 10, account: str | None = None
    ) -> list[list[Hashtag]]:
        """The `k` likeliest hashtags for each photo of feats [P, D] (and `account`), best first;
        InputError when the run has no hashtag head."""
        if self.heads is None:
            raise InputError(
                f"Run {self.run.name!r} was trained before hashtag suggestions existed; "
                "train it again for --hashtags."
            )
        return self.heads.suggest(self.conditioned(feats, account), k)

    def caption_many(
        self,
        photos: Sequence[str | Path],
        n: int = 5,
        *,
        account: str | None = None,
        config: SampleConfig | None = None,
        **overrides: Any,
    ) -> list[list[Caption]]:
        """`n` captions for each photo, best first: by PMI with the photo when re-ranked, else by
        mean log-probability; in `account`'s voice (None: any). A whole `config` (from
        `sample_config`) replaces `n` and `overrides`."""
        self.check_account(account)
        feats = self.features(photos)
        return self.caption_features(feats, n, account=account, config=config, **overrides)

    def caption_features(
        self,
        feats: np.ndarray,
        n: int = 5,
        *,
        account: str | None = None,
        config: SampleConfig | None = None,
        **overrides: Any,
    ) -> list[list[Caption]]:
        """Like `caption_many`, for photos already encoded: feats [P, D] from the run's encoder."""
        feats = self.conditioned(feats, account)
        if config is None:
            config = sample_config(n=n, **overrides)
        elif overrides:
            raise TypeError("pass either config or single settings, not both")
        reference = self.heads.reference if config.rerank and self.heads else None
        out = generate(self.run.model, self.run.vocab, feats, check_config(config), reference)
        if reference is not None and len(reference):
            return out  # already best first, by PMI
        return [sorted(caps, key=lambda c: -c.mean_logprob) for caps in out]

    def caption(
        self,
        photo: str | Path,
        n: int = 5,
        *,
        account: str | None = None,
        hashtags: int = 0,
        **overrides: Any,
    ) -> Captions:
        """`n` captions for one photo, best first, in `account`'s voice (None: any), and with
        `hashtags=k` its k likeliest hashtags (`.hashtags`). `overrides` are SampleConfig fields
        (temperature, top_k, top_p, max_len, max_repeat, seed, beam, rerank)."""
        self.check_account(account)
        feats = self.features([photo])
        tags = self.hashtags(feats, hashtags, account)[0] if hashtags else []
        return Captions(self.caption_features(feats, n, account=account, **overrides)[0], tags)


class Captions(list[Caption]):
    """The captions of one photo, best first (a list), with the photo's suggested `hashtags`
    (empty unless asked for)."""

    def __init__(self, captions: Sequence[Caption] = (), hashtags: Sequence[Hashtag] = ()) -> None:
        super().__init__(captions)
        self.hashtags = list(hashtags)


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
