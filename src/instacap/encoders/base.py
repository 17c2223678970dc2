"""What every encoder is: a `Spec` (its description) and an `Encoder` (ready to run).

Preprocessing is split in two so that prep can run the first half in decoding workers:
`prepare(image) -> uint8 [S, S, 3]` (resize + centre crop, per image) and
`forward(batch [B, S, S, 3] uint8) -> float32 [B, dim]` (the network, per batch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from instacap import images
from instacap.encoders.registry import Spec


class Encoder:
    """A ready-to-run encoder. `key` names its features in the cache (weights included)."""

    def __init__(self, spec: Spec, key: str | None = None, weights_sha256: str | None = None):
        self.spec = spec
        self.name = spec.name
        self.dim = spec.dim
        self.size = spec.size
        self.key = key or spec.name
        self.weights_sha256 = weights_sha256  # the weights file's SHA-256, when it has one
        self.precision = "fp32"
        self.cosine: float | None = None  # bf16-vs-fp32 agreement, when it was measured

    def prepare(self, img: Image.Image) -> np.ndarray:
        """Upright RGB image -> uint8 [size, size, 3]: shorter side resized, centre cropped."""
        return fit(img, self.size)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """uint8 [B, size, size, 3] -> float32 [B, dim]."""
        raise NotImplementedError

    def decode_workers(self) -> int:
        """Decoding processes worth running beside this encoder (`prep --workers` default).

        A light encoder waits on JPEG decoding, so two processes decode in parallel (thumbnail on
        1080 px photos, 2 cores: 200 images/s vs 135 inline).
        """
        return 2

    def encode_images(self, imgs: list[Image.Image]) -> np.ndarray:
        """Features of decoded RGB images: float32 [n, dim]."""
        if self.dim == 0 or not imgs:
            return np.zeros((len(imgs), self.dim), np.float32)
        return self.forward(np.stack([self.prepare(im.convert("RGB")) for im in imgs]))

    def info(self) -> dict[str, Any]:
        return {
            "encoder": self.name,
            "key": self.key,
            "dim": self.dim,
            "weights_sha256": self.weights_sha256,
            "precision": self.precision,
            "bf16_cosine": self.cosine,
        }


class NoImage(Encoder):
    def forward(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((len(batch), 0), np.float32)


def fit(img: Image.Image, size: int) -> np.ndarray:
    """Upright RGB image -> uint8 [size, size, 3]: shorter side resized, centre cropped."""
    return np.asarray(ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def encode_files(encoder: Encoder, files: list[Path]) -> np.ndarray:
    """Features of image files: float32 [n, dim]. Raises BadImage for a file that cannot be read."""
    if encoder.dim == 0:
        return np.zeros((len(files), 0), np.float32)
    draft = (encoder.size, encoder.size)
    return encoder.forward(np.stack([encoder.prepare(images.open_rgb(f, draft)) for f in files]))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of [n, d] and [n, d] -> [n]."""
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, np.finfo(np.float32).tiny)
