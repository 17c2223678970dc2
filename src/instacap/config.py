"""Settings as frozen dataclasses: the one source of truth for defaults (the CLI reads them here,
`meta.json` stores them)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Device(str, Enum):
    """Where the math runs: `auto` is CUDA when present, else the CPU."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Preset(str, Enum):
    """`instacap train --preset`: this project's recipe, or the student project's for comparison."""

    default = "default"
    original = "original"


@dataclass(frozen=True)
class ScrapeConfig:
    max_posts: int = 100  # most recent photo posts to keep per account
    delay: float = 1.0  # seconds between requests to Instagram, on top of instaloader's own pacing
    max_wait: float = 1800.0  # seconds of rate-limit waiting allowed before stopping cleanly
    first_wait: float = 60.0  # first back-off step; doubles each time Instagram says "slow down"


@dataclass(frozen=True)
class PrepConfig:
    # EfficientNet-Lite0: pretrained weights installed with instacap (no download), a tenth of
    # ResNet-50's compute at similar ImageNet accuracy (docs/prep.md); `--encoder vgg16`
    # reproduces the original.
    encoder: str = "efficientnet_lite0"
    min_count: int = 50  # tokens seen fewer times become UNK (the original's threshold)
    max_len: int = 150  # tokens per caption including BOS and EOS
    val_share: float = 0.1
    seed: int = 0
    batch_size: int = 32
    # Image-decoding processes beside the encoder; None = the encoder's choice (0 for a CNN on
    # the CPU, whose threads already use every core; 2 otherwise). See docs/prep.md.
    workers: int | None = None


ARCHS = ("merge", "merge-init", "merge-inject", "transformer")  # network.py describes each


class Arch(str, Enum):
    """`instacap train --arch`: the LSTM (merge-inject) or a causal transformer (docs/model.md)."""

    lstm = "lstm"
    transformer = "transformer"


class Size(str, Enum):
    """`instacap train --size`: `auto` picks one from the training set's size (presets.py)."""

    auto = "auto"
    small = "small"
    base = "base"
    large = "large"


@dataclass(frozen=True)
class ModelConfig:
    size: str = "small"  # the rung of the size ladder these widths come from (presets.SIZES)
    embed: int = 128  # character embedding width (LSTM; the transformer embeds at `hidden`)
    hidden: int = 128  # LSTM width (and the width both branches are projected to)
    layers: int = 1  # LSTM layers or transformer blocks
    heads: int = 4  # attention heads (transformer)
    context: int = 160  # positions the transformer can attend over (captions are <= 150 tokens)
    # The transformer's photo: given as one position before the caption ("prefix"), or projected
    # to the model width and added to every position ("add"). docs/model.md compares them: on the
    # demo data the prefix names the scene far more often.
    image_input: str = "prefix"
    # "merge" is the original: image and text branches added after the LSTM.
    # "merge-init" also starts the LSTM from a state computed from the image; "merge-inject" (the
    # default) also feeds the image to the LSTM at every step, so the text branch keeps writing
    # about the photo (docs/model.md: captions name the photo's scene far more often).
    arch: str = "merge-inject"
    normalize: bool = True  # L2/LayerNorm both branches instead of a hand-tuned image weight
    image_weight: float = 1.0  # the original's hand-set scale of the image branch (normalize=False)
    dropout: float = 0.1  # in the head
    # Dropout on the projected image: photo features are nearly unique per post, and without it
    # the network memorises captions per photo (demo: validation bpc 1.09 -> 1.02, docs/model.md).
    image_dropout: float = 0.5
    # Account slots (accounts.py) at the end of the conditioning vector, read by a branch of their
    # own: a learned row per account (with the image's dropout) added to the image branch after
    # its normalisation, so the photo's features cannot drown the account. 0: no accounts, or a
    # run trained before, whose image branch reads the slots with the photo's features.
    accounts: int = 0


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64  # with length buckets a batch costs little more than one caption
    lr: float | None = None  # None: the model size's own (presets.SIZES); resolved by training
    # Learning rate over training: "cosine" warms up linearly for `warmup` steps, then decays to a
    # tenth along a cosine over all epochs; "constant" keeps it. None: the model size's own.
    schedule: str | None = None
    warmup: int = 100  # optimiser steps (at most a tenth of all steps)
    weight_decay: float = 0.01
    clip: float = 1.0  # gradient norm clip; 0 = off
    patience: int = 0  # epochs without validation improvement before stopping; 0 = never
    seed: int = 0
    bucket: bool = True  # batch captions of similar length and skip padding
    # Weigh each batch's loss by its tokens, so every token counts the same whatever the length
    # of its caption (with buckets, unweighted short captions count several times more, and the
    # network learns to end captions early: docs/quality.md). False: each batch's plain mean.
    weigh_tokens: bool = True
    device: str = "auto"  # auto | cpu | cuda
    # CPU threads for the math; 0 = all cores. All cores are fastest on an idle machine (2 epochs
    # of the demo: 2.0 s with two threads, 3.0 s with one); on a busy one, 1 avoids spinning threads.
    threads: int = 0


# `--preset original`: the student project's network and recipe, for comparison (docs/model.md).
ORIGINAL_MODEL = ModelConfig(
    arch="merge", normalize=False, image_weight=1.0, dropout=0.0, image_dropout=0.0
)
ORIGINAL_TRAIN = TrainConfig(
    batch_size=10, lr=1e-3, weight_decay=0.0, clip=0.0, bucket=False, schedule="constant",
    warmup=0, weigh_tokens=False,
)  # fmt: skip
PRESETS = tuple(p.value for p in Preset)


@dataclass(frozen=True)
class SampleConfig:
    n: int = 5  # captions per photo
    # < 1 sharpens the distribution: fewer misspellings, stays on the photo.
    temperature: float = 0.7
    top_k: int = 0  # 0 = off
    # Nucleus: drop the unlikely tail that produces garbage characters (0.8 names the demo photos'
    # scene more often than 0.9 in captions as long as the data's: docs/model.md).
    top_p: float = 0.8
    max_len: int = 150  # tokens per caption including BOS and EOS (the training cap)
    max_repeat: int = 4  # longest run of one token allowed ("!!!!" yes, "!!!!!!!!!..." no); 0 = off
    seed: int | None = None
    beam: int = 0  # 0 = sample; K = beam search keeping the K likeliest prefixes (beam.py)
    # Write 4x n candidates and keep the n the photo explains best (PMI, rerank.py) instead of
    # the n likeliest; off where the run has no reference photos (docs/quality.md measures it).
    rerank: bool = False


@dataclass(frozen=True)
class EvalConfig:
    n: int = 3  # captions generated per validation photo for the generated-text metrics
    candidates: int = 100  # retrieval@1 pool: the true caption and 99 others (chance 1%)
    retrieval_photos: int = 200  # photos whose pool is scored (a seeded subset when there are more)
    # Validation photos measured (a seeded subset when there are more); 0 = all.
    max_photos: int = 500
    batch_size: int = 256  # captions per forward pass when scoring
    seed: int = 0
    # CPU threads for scoring and sampling; 0 = all cores (idle 2-core machine: demo eval 2.1-2.7 s
    # with two threads, 3.2 s with one). On a busy machine 1 avoids threads spinning for a core.
    threads: int = 0
