"""`instacap demo` as a library call: demo posts -> prep (thumbnail) -> train -> held-out captions.

Everything runs offline on the synthetic demo data (`demo.py`), in the demo's own post store and
the run `demo`, so the user's own posts and runs are never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from instacap import dataset, demo
from instacap.config import ModelConfig, PrepConfig, TrainConfig
from instacap.errors import InputError
from instacap.progress import SILENT, Reporter
from instacap.sampling import Caption, Captioner

RUN = "demo"
POSTS, EPOCHS, SHOWN = 640, 30, 4
# Few posts: keep every character the demo uses (min_count 5), no decoding processes. thumbnail,
# not the default efficientnet_lite0: on the drawn demo scenes both read the photo equally well
# (docs/quality.md), and thumbnail prepares the 640 photos in ~10 s instead of ~55 s.
PREP = PrepConfig(encoder="thumbnail", min_count=5, workers=0)


@dataclass(frozen=True)
class Example:
    photo: Path
    scene: str | None
    original: str
    generated: tuple[Caption, ...]


def check(posts: int, epochs: int) -> None:
    if posts < 20 or epochs < 1:
        raise InputError("The demo needs --posts of at least 20 and --epochs of at least 1.")


def prepare(posts: int = POSTS, reporter: Reporter = SILENT) -> dataset.Dataset:
    """The demo posts (generated when missing) prepped with the offline thumbnail encoder."""
    demo.ensure(n=posts, reporter=reporter)
    return dataset.build(PREP, demo=True, reporter=reporter)


def train(
    data: dataset.Dataset,
    epochs: int = EPOCHS,
    reporter: Reporter = SILENT,
    on_epoch: Callable[[Any], None] | None = None,
) -> Any:
    """Train (or retrain) the run `demo` with the default model; returns training.FitResult."""
    from instacap import training

    config = replace(TrainConfig(), epochs=epochs)
    return training.fit(data, ModelConfig(), config, name=RUN, overwrite=True,
                        reporter=reporter, on_epoch=on_epoch)  # fmt: skip


def examples(data: dataset.Dataset, k: int = SHOWN, seed: int = 0) -> list[Example]:
    """Two captions each for up to k held-out photos of different scenes, by the run `demo`."""
    show = _pick_shown(data.val.scenes, k)
    feats = data.val.features(np.array(show, dtype=np.int64))  # [k, D]
    caps = Captioner.load(RUN).caption_features(feats, n=2, seed=seed)
    return [
        Example(data.val.images[i], data.val.scenes[i], data.val.captions[i], tuple(cs))
        for i, cs in zip(show, caps, strict=True)
    ]


def _pick_shown(scenes: list[str | None], k: int) -> list[int]:
    """Up to k validation rows with different scenes (the first of each), for a varied showcase."""
    seen: set[str | None] = set()
    picked = []
    for i, s in enumerate(scenes):
        if s not in seen:
            seen.add(s)
            picked.append(i)
        if len(picked) == k:
            break
    return picked
