"""Measure a trained run: how well it predicts real captions, whether it reads the photo, and what
its own captions look like (DESIGN.md §6).

The metric functions at the top are pure (arrays and strings in, numbers out) so each can be
checked on hand-made inputs; `evaluate` at the bottom wires them to a saved run and a data set.
"""

from __future__ import annotations

import itertools
import math
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import regex

from instacap.config import EvalConfig, SampleConfig
from instacap.errors import InputError
from instacap.progress import SILENT, Reporter

if TYPE_CHECKING:  # pragma: no cover
    from instacap.quiz import Summary

LN2 = math.log(2.0)

# ----------------------------------------------------------------------------- likelihood metrics


def bpc_from_totals(nats: np.ndarray, counts: np.ndarray) -> float:
    """Bits per character from per-caption totals: nats [N] summed -ln p, counts [N] tokens."""
    total = float(np.sum(counts))
    return float(np.sum(nats) / total / LN2) if total else float("nan")


def derangement(n: int, seed: int) -> np.ndarray:
    """A seeded permutation of range(n) that moves every element (no photo keeps its caption).

    Sattolo's shuffle gives a single n-cycle, which is always a derangement for n >= 2.
    """
    if n < 2:
        raise ValueError("a derangement needs at least two items")
    rng = np.random.default_rng(seed)
    perm = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = int(rng.integers(0, i))  # j < i: Sattolo, not Fisher-Yates
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def image_gain(bpc_true: float, bpc_shuffled: float) -> float:
    """Bits per character the right photo saves over a wrong one; ~0 means the photo is ignored."""
    return bpc_shuffled - bpc_true


# Scores captions for photos: (photo indices [M], caption indices [M]) -> score [M], higher = better.
# Caption i belongs to photo i.
ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def retrieval_blocks(n: int, candidates: int, limit: int, seed: int) -> list[np.ndarray]:
    """Photos for retrieval: a seeded subset of at most `limit` of range(n) (0 = all), dealt into
    blocks of at most `candidates` photos of nearly equal size. Inside a block every photo's true
    caption competes with the captions of all the block's other photos."""
    rng = np.random.default_rng(seed)
    who = rng.permutation(n) if limit <= 0 or n <= limit else rng.choice(n, limit, replace=False)
    parts = max(1, math.ceil(len(who) / candidates))
    return [np.sort(b) for b in np.array_split(who, parts) if len(b)]


def score_matrix(block: np.ndarray, score: ScoreFn) -> np.ndarray:
    """S [P, P]: S[i, j] = score of caption block[j] given photo block[i] (one call, batched)."""
    p = len(block)
    return np.asarray(score(np.repeat(block, p), np.tile(block, p)), np.float64).reshape(p, p)


def retrieval_credit(
    scores: np.ndarray, texts: Sequence[str], tol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Per photo of a block: (credit [P] in 0..1, pool size [P]).

    Each caption's score is first taken relative to its mean over the block's photos (how much
    more likely this photo makes the caption than photos in general). Without that, the caption
    that is likeliest in general wins for every photo and the number says nothing about the photo.
    Rivals with the true caption's exact text are left out (picking one is no mistake). A tie at
    the top (within `tol`) is shared, so a model that ignores the photo lands exactly on chance.
    """
    rel = scores - scores.mean(axis=0, keepdims=True)  # [P, P]
    texts_a = np.array(texts, dtype=object)
    credit = np.zeros(len(texts))
    size = np.zeros(len(texts), dtype=np.int64)
    for i in range(len(texts)):
        rivals = (texts_a != texts_a[i]) | (np.arange(len(texts)) == i)
        row = rel[i, rivals]
        mine = rel[i, i]
        size[i] = int(rivals.sum())
        if mine >= row.max() - tol:
            credit[i] = 1.0 / int(np.sum(row >= mine - tol))
    return credit, size


def retrieval_at_1(
    blocks: Sequence[np.ndarray], captions: Sequence[str], score: ScoreFn
) -> tuple[float, float]:
    """(share of photos whose true caption ranks first among its block's, chance of the same)."""
    credits, sizes = [], []
    for block in blocks:
        c, n = retrieval_credit(score_matrix(block, score), [captions[i] for i in block])
        credits.append(c)
        sizes.append(n)
    if not credits:
        return float("nan"), float("nan")
    return float(np.concatenate(credits).mean()), float((1.0 / np.concatenate(sizes)).mean())


# ----------------------------------------------------------------------------- generated-text metrics

_EDGE_PUNCT = "".join(c for c in string.punctuation if c not in "#@")
_HASHTAG = regex.compile(r"#\w+")
_MENTION = regex.compile(r"(?<![\w.])@[\w.]+")


def words(text: str) -> list[str]:
    """Lower-cased whitespace words with surrounding punctuation trimmed ('#tags' and '@names' kept)."""
    out = []
    for raw in text.lower().split():
        w = raw.strip(_EDGE_PUNCT)
        if w:
            out.append(w)
    return out


def distinct_2(texts: Iterable[str]) -> float:
    """Unique word bigrams / all word bigrams over all captions (1 = never repeats a bigram)."""
    seen: set[tuple[str, str]] = set()
    total = 0
    for text in texts:
        ws = words(text)
        for pair in itertools.pairwise(ws):
            seen.add(pair)
            total += 1
    return len(seen) / total if total else 0.0


def known_word_share(texts: Iterable[str], training_words: set[str]) -> float:
    """Share of generated words (all occurrences) that occur somewhere in the training captions."""
    hits = total = 0
    for text in texts:
        for w in words(text):
            total += 1
            hits += w in training_words
    return hits / total if total else 0.0


def vocabulary_of(captions: Iterable[str]) -> set[str]:
    return {w for c in captions for w in words(c)}


def copy_share(texts: Sequence[str], training_captions: set[str]) -> float:
    """Share of generated captions equal (after trimming whitespace) to some training caption."""
    if not texts:
        return 0.0
    return sum(t.strip() in training_captions for t in texts) / len(texts)


def is_degenerate(text: str, ended: bool, min_span: int = 24, max_period: int = 50) -> bool:
    """True when a caption ran to the length cap going round in a loop.

    It must not have ended by EOS, and its tail must repeat one unit of at most `max_period`
    characters at least twice, over at least `min_span` characters: one character ('aaaa'), one
    word ('#love #love #love') or one phrase ('in the woods with no signal in the woods with ...').
    """
    if ended:
        return False
    text = text.rstrip()
    for p in range(1, max_period + 1):
        span = max(min_span, 2 * p)
        if len(text) < span:
            break
        tail = text[-span:]
        if tail[p:] == tail[:-p]:  # periodic with period p
            return True
    return False


def degenerate_share(texts: Sequence[str], ended: Sequence[bool]) -> float:
    if not texts:
        return 0.0
    return sum(is_degenerate(t, e) for t, e in zip(texts, ended, strict=True)) / len(texts)


def hashtag_share(texts: Sequence[str]) -> float:
    """Share of captions with at least one #hashtag."""
    return sum(bool(_HASHTAG.search(t)) for t in texts) / len(texts) if texts else 0.0


def mention_share(texts: Sequence[str]) -> float:
    """Share of captions with at least one @mention."""
    return sum(bool(_MENTION.search(t)) for t in texts) / len(texts) if texts else 0.0


def ended_share(ended: Sequence[bool]) -> float:
    """Share of captions that stopped by EOS before the length cap."""
    return sum(bool(e) for e in ended) / len(ended) if ended else 0.0


def scene_accuracy(
    texts: Sequence[str], scenes: Sequence[str | None], scene_of: Callable[[str], str | None]
) -> float | None:
    """Share of captions (of photos whose scene is known) that name the photo's true scene.

    A caption naming no scene, or two scenes equally, counts as wrong. None when no scene is known.
    """
    pairs = [(t, s) for t, s in zip(texts, scenes, strict=True) if s is not None]
    if not pairs:
        return None
    return sum(scene_of(t) == s for t, s in pairs) / len(pairs)


# ----------------------------------------------------------------------------- the report

SCHEMA = 1  # bump when a key of Report.to_json changes meaning or disappears


@dataclass(frozen=True)
class Sample:
    """One validation photo: its real caption beside the run's own (for `eval --samples`)."""

    shortcode: str
    account: str
    scene: str | None
    image: str
    original: str
    generated: tuple[Any, ...]  # sampling.Caption, n of them

    def to_json(self) -> dict[str, Any]:
        return {
            "shortcode": self.shortcode,
            "account": self.account,
            "scene": self.scene,
            "image": self.image,
            "original": self.original,
            "generated": [c.text for c in self.generated],
        }


@dataclass(frozen=True)
class Report:
    """Every number `instacap eval` prints. Fractions are 0..1; bpc and gain are bits per token."""

    run: str
    dataset: str
    encoder: str
    photos: int  # validation photos measured
    captions_per_photo: int
    seed: int
    bpc: float
    bpc_shuffled: float
    image_gain: float
    retrieval_at_1: float
    retrieval_chance: float
    retrieval_photos: int
    retrieval_candidates: int  # largest pool (100, or fewer on a small data set)
    distinct_2: float
    distinct_2_data: float  # the real validation captions' own
    known_words: float
    copied: float
    degenerate: float
    hashtags: float
    hashtags_data: float
    mentions: float
    mentions_data: float
    ended: float
    scene_accuracy: float | None  # None when the data knows no scenes (only the demo data does)
    scene_accuracy_data: float | None  # the real captions' own: the ceiling
    scene_chance: float | None
    samples: tuple[Sample, ...] = ()
    # People's verdict: the pooled fooling rate of every `instacap quiz` on the run (None: no quiz).
    quiz: Summary | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "samples":
                value = [s.to_json() for s in value]
            elif f.name == "quiz":
                value = None if value is None else value.to_json()
            out[f.name] = _finite(value)
        return out


def _finite(value: Any) -> Any:
    # JSON has no NaN: an undefined number becomes null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ----------------------------------------------------------------------------- the photos measured


@dataclass(frozen=True)
class Pool:
    """The captions and photo features a run is measured on, already in the run's token ids."""

    ids: np.ndarray  # [N, L] int64: BOS tok... EOS then PAD
    lengths: np.ndarray  # [N] tokens incl. BOS and EOS
    feats: np.ndarray  # [N, D] float32
    captions: list[str]
    scenes: list[str | None]
    shortcodes: list[str]
    accounts: list[str]
    images: list[str]

    def __len__(self) -> int:
        return len(self.captions)

    def take(self, idx: np.ndarray) -> Pool:
        pick = [int(i) for i in idx]
        return Pool(
            ids=self.ids[idx],
            lengths=self.lengths[idx],
            feats=self.feats[idx],
            captions=[self.captions[i] for i in pick],
            scenes=[self.scenes[i] for i in pick],
            shortcodes=[self.shortcodes[i] for i in pick],
            accounts=[self.accounts[i] for i in pick],
            images=[self.images[i] for i in pick],
        )


def subset(n: int, limit: int, seed: int) -> np.ndarray:
    """All of range(n), or a seeded sorted sample of `limit` of them (limit 0 = all)."""
    if limit <= 0 or n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


# ----------------------------------------------------------------------------- scoring with the model


def caption_nats(
    model: Any, feats: np.ndarray, ids: np.ndarray, lengths: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Summed -ln p of each caption's tokens after BOS (EOS included) given its photo features.

    feats [N, D], ids [N, L], lengths [N] -> nats [N]. Captions are batched by length so that a
    batch runs only as many steps as its longest caption.
    """
    import torch

    from instacap.tokenizer import PAD

    device = next(model.parameters()).device
    order = np.argsort(lengths, kind="stable")
    nats = np.zeros(len(lengths), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            t = int(lengths[rows].max())
            x = torch.from_numpy(np.ascontiguousarray(ids[rows, :t])).to(device)  # [B, t]
            f = torch.from_numpy(np.ascontiguousarray(feats[rows], dtype=np.float32)).to(device)
            inputs, targets = x[:, :-1], x[:, 1:]  # [B, t-1] each
            logits, _ = model(f, inputs)  # [B, t-1, V]
            lp = logits.float().log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            lp = lp.masked_fill(targets == PAD, 0.0)  # [B, t-1]
            nats[rows] = -lp.sum(1).double().cpu().numpy()
    return nats


def likelihood_metrics(
    model: Any, pool: Pool, config: EvalConfig, reporter: Reporter = SILENT
) -> dict[str, Any]:
    """bpc with the right photos and with deranged photos, and retrieval@1 among `candidates`."""
    counts = pool.lengths - 1  # targets: every token after BOS, EOS included
    reporter.start("scoring captions", total=3)
    bpc = bpc_from_totals(
        caption_nats(model, pool.feats, pool.ids, pool.lengths, config.batch_size), counts
    )
    reporter.advance("scoring captions")
    if len(pool) >= 2:
        perm = derangement(len(pool), config.seed)
        shuffled = caption_nats(model, pool.feats[perm], pool.ids, pool.lengths, config.batch_size)
        bpc_shuffled = bpc_from_totals(shuffled, counts)
    else:
        bpc_shuffled = float("nan")
    reporter.advance("scoring captions")

    # Retrieval: a seeded subset of photos in blocks of up to 100, every caption under every photo.
    blocks = retrieval_blocks(len(pool), config.candidates, config.retrieval_photos, config.seed)

    def score(photos: np.ndarray, caps: np.ndarray) -> np.ndarray:
        # Mean log-probability per token, so that a short caption does not win by being short.
        nats = caption_nats(
            model, pool.feats[photos], pool.ids[caps], pool.lengths[caps], config.batch_size
        )
        return -nats / counts[caps]

    retrieval, chance = retrieval_at_1(blocks, pool.captions, score)
    reporter.advance("scoring captions")
    return {
        "bpc": bpc,
        "bpc_shuffled": bpc_shuffled,
        "image_gain": image_gain(bpc, bpc_shuffled),
        "retrieval_at_1": retrieval,
        "retrieval_chance": chance,
        "retrieval_photos": sum(len(b) for b in blocks),
        "retrieval_candidates": max((len(b) for b in blocks), default=0),
    }


# ----------------------------------------------------------------------------- generated captions


def decoding(run: Any, config: EvalConfig) -> SampleConfig:
    """The run's default decoding (SampleConfig defaults, or what its meta.json recorded) with the
    evaluation's caption count and seed."""
    base = SampleConfig()
    saved = run.meta.get("sample") if isinstance(getattr(run, "meta", None), dict) else None
    if isinstance(saved, dict):
        known = {f.name for f in fields(SampleConfig)}
        base = replace(base, **{k: v for k, v in saved.items() if k in known})
    return replace(base, n=config.n, seed=config.seed)


def generate_all(
    run: Any,
    feats: np.ndarray,
    sample: SampleConfig,
    generate: Callable[..., list[list[Any]]],
    reporter: Reporter = SILENT,
    chunk: int = 64,
) -> list[list[Any]]:
    """`sample.n` captions for each photo of feats [P, D], `chunk` photos per batch, each chunk
    seeded from the evaluation seed so the whole result is reproducible."""
    out: list[list[Any]] = []
    reporter.start("writing captions", total=len(feats))
    for k, start in enumerate(range(0, len(feats), chunk)):
        part = feats[start : start + chunk]
        seed = None if sample.seed is None else sample.seed + k
        out.extend(generate(run.model, run.vocab, part, replace(sample, seed=seed)))
        reporter.advance("writing captions", len(part))
    return out


def text_metrics(
    generated: list[list[Any]], pool: Pool, train_captions: Sequence[str]
) -> dict[str, Any]:
    """Metrics of the run's own captions (sampling.Caption lists, one list per pool photo), each
    beside the same figure for the real captions where that comparison means something."""
    texts = [c.text for caps in generated for c in caps]
    ended = [bool(c.ended) for caps in generated for c in caps]
    scenes = [pool.scenes[i] for i, caps in enumerate(generated) for _ in caps]
    result: dict[str, Any] = {
        "distinct_2": distinct_2(texts),
        "distinct_2_data": distinct_2(pool.captions),
        "known_words": known_word_share(texts, vocabulary_of(train_captions)),
        "copied": copy_share(texts, {c.strip() for c in train_captions}),
        "degenerate": degenerate_share(texts, ended),
        "hashtags": hashtag_share(texts),
        "hashtags_data": hashtag_share(pool.captions),
        "mentions": mention_share(texts),
        "mentions_data": mention_share(pool.captions),
        "ended": ended_share(ended),
        "scene_accuracy": None,
        "scene_accuracy_data": None,
        "scene_chance": None,
    }
    known = {s for s in pool.scenes if s is not None}
    if known:
        from instacap.demo import scene_of

        result["scene_accuracy"] = scene_accuracy(texts, scenes, scene_of)
        result["scene_accuracy_data"] = scene_accuracy(pool.captions, pool.scenes, scene_of)
        result["scene_chance"] = 1.0 / len(known)
    return result


# ----------------------------------------------------------------------------- putting it together


def measure(
    run: Any,
    pool: Pool,
    train_captions: Sequence[str],
    config: EvalConfig = EvalConfig(),
    samples: int = 0,
    dataset_name: str = "",
    reporter: Reporter = SILENT,
    generate: Callable[..., list[list[Any]]] | None = None,
) -> Report:
    """Every metric of `run` (a runs.Run or anything with .name .model .vocab .encoder .meta)
    on `pool`; `train_captions` are what it learned from (for known words and copies)."""
    import torch

    from instacap.runtime import cpu_threads, seed_everything

    if generate is None:
        from instacap import sampling

        generate = sampling.generate
    seed_everything(config.seed)
    run.model.eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or cpu_threads())
    try:
        lik = likelihood_metrics(run.model, pool, config, reporter)
        generated = generate_all(run, pool.feats, decoding(run, config), generate, reporter)
    finally:
        torch.set_num_threads(threads)
    text = text_metrics(generated, pool, train_captions)
    shown = tuple(
        Sample(
            shortcode=pool.shortcodes[i],
            account=pool.accounts[i],
            scene=pool.scenes[i],
            image=pool.images[i],
            original=pool.captions[i],
            generated=tuple(generated[i]),
        )
        for i in range(min(samples, len(pool)))
    )
    return Report(
        run=run.name,
        dataset=dataset_name or getattr(run, "dataset", ""),
        encoder=run.encoder,
        photos=len(pool),
        captions_per_photo=config.n,
        seed=config.seed,
        samples=shown,
        **lik,
        **text,
    )


def evaluate(
    run: Any = None,
    dataset: str | None = None,
    config: EvalConfig = EvalConfig(),
    samples: int = 0,
    device: str = "cpu",
    reporter: Reporter = SILENT,
    **overrides: Any,
) -> Report:
    """Measure a saved run (its name, None for the newest, or a loaded runs.Run) on the
    validation split of its data set, or on the posts of data set `dataset` it has not trained on.

    `overrides` replace fields of `config` (e.g. `evaluate("demo", n=5, seed=1)`). Deterministic
    for the seed. Raises NotReady / CheckpointError / InputError with the one sentence to show.
    """
    try:
        config = replace(config, **overrides)
    except TypeError as exc:
        raise InputError(f"Unknown evaluation setting: {exc}.") from None
    if run is None or isinstance(run, str):
        from instacap import checkpoint

        run = checkpoint.load(run, device=device)
    pool, train_captions, name = load_pool(run, dataset, config, reporter)
    report = measure(run, pool, train_captions, config, samples, name, reporter)
    if getattr(run, "path", None) is not None:
        from instacap import quiz

        report = replace(report, quiz=quiz.pooled(run.path, quiz.model_id(run.meta)))
    return report


def load_pool(
    run: Any, name: str | None, config: EvalConfig, reporter: Reporter = SILENT
) -> tuple[Pool, list[str], str]:
    """(photos to measure, the run's training captions, data set name).

    The run's own data set gives its validation split. Another data set (same encoder) gives all
    its posts the run did not train on, when the run's own data set is still there to tell which;
    otherwise its validation split.
    """
    from instacap import dataset as datasets
    from instacap.errors import NotReady

    target = datasets.load(name or run.dataset)
    want_dim = run.meta.get("feature_dim") if isinstance(run.meta, dict) else None
    if target.encoder != run.encoder or (
        want_dim is not None and int(want_dim) != target.feature_dim
    ):
        raise InputError(
            f"Data set {target.name!r} holds {target.encoder!r} image features but run "
            f"{run.name!r} reads {run.encoder!r} features; prepare one with "
            f"`instacap prep --encoder {run.encoder}` and evaluate on that."
        )
    if target.name == run.dataset:
        fp = _trained_fingerprint(run)
        if fp and fp != target.fingerprint:
            reporter.note(
                f"Data set {target.name!r} changed since run {run.name!r} was trained; "
                "some validation posts may have been training posts."
            )
        parts = [(target.val, np.arange(len(target.val)))]
        train_captions = list(target.train.captions)
    else:
        try:
            own = datasets.load(run.dataset)
        except NotReady:
            own = None
        if own is None:
            reporter.note(
                f"Run {run.name!r}'s own data set is gone, so its training posts cannot be told "
                f"apart; measuring on the validation split of {target.name!r}."
            )
            parts = [(target.val, np.arange(len(target.val)))]
            train_captions = list(target.train.captions)
        else:
            seen = set(own.train.shortcodes)
            parts = [
                (
                    split,
                    np.array(
                        [i for i, s in enumerate(split.shortcodes) if s not in seen], np.int64
                    ),
                )
                for split in (target.val, target.train)
            ]
            train_captions = list(own.train.captions)
    pool = _pool_from(parts, run.vocab, target)
    if len(pool) < 2:
        raise NotReady(
            f"Data set {target.name!r} has fewer than two posts run {run.name!r} has not trained on; "
            "add posts and run `instacap prep` again."
        )
    return pool.take(subset(len(pool), config.max_photos, config.seed)), train_captions, target.name


def _trained_fingerprint(run: Any) -> str | None:
    meta = run.meta if isinstance(run.meta, dict) else {}
    data = meta.get("dataset")
    return data.get("fingerprint") if isinstance(data, dict) else meta.get("fingerprint")


def _pool_from(parts: list[tuple[Any, np.ndarray]], vocab: Any, data: Any) -> Pool:
    """Gather rows of dataset splits into one Pool, re-encoding the captions when the data set's
    vocabulary differs from the run's (ids must mean the run's characters)."""
    same_vocab = tuple(data.vocab.tokens) == tuple(vocab.tokens)
    ids, lengths, feats = [], [], []
    captions: list[str] = []
    scenes: list[str | None] = []
    shortcodes: list[str] = []
    accounts: list[str] = []
    images: list[str] = []
    for split, idx in parts:
        if not len(idx):
            continue
        if same_vocab:
            ids.append(np.asarray(split.ids[idx], dtype=np.int64))
            lengths.append(np.asarray(split.lengths[idx], dtype=np.int64))
        else:
            enc = [vocab.encode(split.captions[i], data.max_len) for i in idx]
            block = np.zeros((len(enc), data.max_len), dtype=np.int64)
            for r, row in enumerate(enc):
                block[r, : len(row)] = row
            ids.append(block)
            lengths.append(np.array([len(row) for row in enc], dtype=np.int64))
        feats.append(np.asarray(split.features(idx), dtype=np.float32))
        captions += [split.captions[i] for i in idx]
        scenes += [split.scenes[i] for i in idx]
        shortcodes += [split.shortcodes[i] for i in idx]
        accounts += [split.accounts[i] for i in idx]
        images += [str(split.images[i]) for i in idx]
    if not ids:
        return Pool(
            np.zeros((0, 2), np.int64),
            np.zeros(0, np.int64),
            np.zeros((0, data.feature_dim), np.float32),
            [],
            [],
            [],
            [],
            [],
        )
    width = max(a.shape[1] for a in ids)
    ids = [np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in ids]
    return Pool(
        ids=np.concatenate(ids),
        lengths=np.concatenate(lengths),
        feats=np.concatenate(feats),
        captions=captions,
        scenes=scenes,
        shortcodes=shortcodes,
        accounts=accounts,
        images=images,
    )
