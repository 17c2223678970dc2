"""`thumbnail`: a weight-free colour/layout/texture descriptor computed from the pixels (offline).

It tells the demo's drawn scenes apart, but it cannot read a real photo: for that use a pretrained
network (the default, `efficientnet_lite0`).
"""

from __future__ import annotations

import numpy as np

from instacap.encoders.base import Encoder

THUMB_SIZE = 64  # registry.py gives the thumbnail spec this size


class Thumbnail(Encoder):
    def forward(self, batch: np.ndarray) -> np.ndarray:
        return thumbnail_features(batch)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1], [..., 3] -> CIELAB (D65), [..., 3] with L in [0, 100]."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
        np.float32,
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883], np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    lab = np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )
    return lab.astype(np.float32)


_A_EDGES = np.array([-20.0, 0.0, 20.0], np.float32)
_L_EDGES = np.array([25.0, 50.0, 75.0], np.float32)


def thumbnail_features(batch: np.ndarray) -> np.ndarray:
    """uint8 [B, 64, 64, 3] -> float32 [B, 142], each part scaled to roughly [-1, 1].

    48 mean Lab colours of a 4x4 grid (layout: sky above sand, dark below bright) + 16 grid
    brightness spreads (texture: foliage vs sky) + 64 Lab histogram bins (sqrt of shares) +
    4 edge strengths per quadrant + 2 edge orientations + 4 brightness statistics +
    2 colourfulness figures + 2 dark/bright shares.
    """
    b = batch.shape[0]
    lab = _lab(batch.astype(np.float32) / 255.0)  # [B, 64, 64, 3]
    L = lab[..., 0]
    cells = lab.reshape(b, 4, 16, 4, 16, 3)
    grid_mean = cells.mean((2, 4)) / np.array([100.0, 100.0, 100.0], np.float32)  # [B, 4, 4, 3]
    grid_std = cells[..., 0].std((2, 4)) / 50.0  # [B, 4, 4]

    li = np.digitize(L, _L_EDGES)
    ai = np.digitize(lab[..., 1], _A_EDGES)
    bi = np.digitize(lab[..., 2], _A_EDGES)
    bins = (li * 16 + ai * 4 + bi).reshape(b, -1)  # [B, 4096] in 0..63
    hist = np.stack([np.bincount(row, minlength=64) for row in bins]).astype(np.float32)
    hist = np.sqrt(hist / bins.shape[1])  # Hellinger: rare colours still count

    gy = np.abs(np.diff(L, axis=1))[:, :, :-1] / 25.0  # [B, 63, 63]
    gx = np.abs(np.diff(L, axis=2))[:, :-1, :] / 25.0
    mag = gx + gy
    quads = mag[:, :62, :62].reshape(b, 2, 31, 2, 31).mean((2, 4)).reshape(b, 4)
    orient = np.stack([gx.mean((1, 2)), gy.mean((1, 2))], -1)

    lf = L.reshape(b, -1) / 100.0
    bright = np.stack(
        [lf.mean(1), lf.std(1) * 2, np.percentile(lf, 10, axis=1), np.percentile(lf, 90, axis=1)],
        -1,
    )
    chroma = np.hypot(lab[..., 1], lab[..., 2]).reshape(b, -1) / 50.0
    colour = np.stack([chroma.mean(1), chroma.std(1)], -1)
    extremes = np.stack([(lf < 0.15).mean(1), (lf > 0.85).mean(1)], -1)

    out = np.concatenate(
        [
            grid_mean.reshape(b, -1),
            grid_std.reshape(b, -1),
            hist,
            quads,
            orient,
            bright,
            colour,
            extremes,
        ],
        axis=1,
    )
    return out.astype(np.float32)
